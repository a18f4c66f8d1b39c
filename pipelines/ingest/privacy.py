"""Pseudonymize user ids with a keyed HMAC; the key comes from the environment or the home folder."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

KEY_ENV = "TOKENLEDGER_PSEUDONYM_KEY"
KEY_FILE = "pseudonym.key"


class MissingKeyError(RuntimeError):
    """No pseudonymization key is configured."""


def key_path(secrets_dir: Path) -> Path:
    return secrets_dir / KEY_FILE


def create_key(secrets_dir: Path) -> Path:
    """Write a new random key file (readable by the owner only) unless one exists; return its path."""
    path = key_path(secrets_dir)
    if not path.exists():
        secrets_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path


SHORT_KEY_BYTES = 16
"""Below this a key is used but named in a warning: a short key can be found by trying candidates."""


def load_key(secrets_dir: Path) -> bytes:
    """The key from $TOKENLEDGER_PSEUDONYM_KEY, else from <home>/secrets/pseudonym.key. An empty key (nothing but
    white space) is refused: a user id hashed with it is reversed by hashing guesses."""
    value = os.environ.get(KEY_ENV)
    path = key_path(secrets_dir)
    if value:
        key, where = value.strip().encode(), KEY_ENV
    elif path.is_file():
        key, where = path.read_bytes().strip(), str(path)
    else:
        raise MissingKeyError(
            f"no pseudonymization key: set {KEY_ENV} or create {path} "
            "(`tokenledger init --home HOME` writes a random one); user ids are never stored unkeyed"
        )
    if not key:
        raise MissingKeyError(
            f"the pseudonymization key in {where} is empty: user ids hashed with it could be reversed by hashing "
            "guesses (`tokenledger init --home HOME` writes a random key when the file is absent)"
        )
    return key


def short_key_warning(key: bytes, secrets_dir: Path) -> str | None:
    """A line to show when the key is shorter than SHORT_KEY_BYTES, else None."""
    if len(key) >= SHORT_KEY_BYTES:
        return None
    where = KEY_ENV if os.environ.get(KEY_ENV) else str(key_path(secrets_dir))
    return (f"warning: the pseudonymization key in {where} is {len(key)} bytes: a key that short can be found by trying "
            f"candidates; use {SHORT_KEY_BYTES} or more random bytes (`tokenledger init` writes 64 hex characters)")


def pseudonymize(user_ids: pa.ChunkedArray | pa.Array, key: bytes) -> pa.Array:
    """Replace each user id by 'p_' + 20 hex chars of HMAC-SHA256; hashes each distinct id once. A blank id is
    no id (null): hashed, every request without a user would be one active user."""
    values = user_ids.combine_chunks() if isinstance(user_ids, pa.ChunkedArray) else user_ids
    encoded = values.dictionary_encode()
    digests = pa.array(
        [None if v is None or not v.strip(" ") else "p_" + hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:20] for v in encoded.dictionary.to_pylist()],
        type=pa.string(),
    )
    return pc.take(digests, encoded.indices)
