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


def load_key(secrets_dir: Path) -> bytes:
    """The key from $TOKENLEDGER_PSEUDONYM_KEY, else from <home>/secrets/pseudonym.key."""
    value = os.environ.get(KEY_ENV)
    if value:
        return value.strip().encode()
    path = key_path(secrets_dir)
    if path.is_file():
        return path.read_text().strip().encode()
    raise MissingKeyError(
        f"no pseudonymization key: set {KEY_ENV} or create {path} "
        "(`tokenledger init --home HOME` writes a random one); user ids are never stored unkeyed"
    )


def pseudonymize(user_ids: pa.ChunkedArray | pa.Array, key: bytes) -> pa.Array:
    """Replace each user id by 'p_' + 20 hex chars of HMAC-SHA256; hashes each distinct id once."""
    values = user_ids.combine_chunks() if isinstance(user_ids, pa.ChunkedArray) else user_ids
    encoded = values.dictionary_encode()
    digests = pa.array(
        [None if v is None else "p_" + hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:20] for v in encoded.dictionary.to_pylist()],
        type=pa.string(),
    )
    return pc.take(digests, encoded.indices)
