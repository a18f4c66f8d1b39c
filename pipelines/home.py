"""The home folder that holds all of tokenledger's state, and where shipped files live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = "./data"
HOME_ENV = "TOKENLEDGER_HOME"

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """`sql`, `pricing` or `dagster.yaml`: from the source tree when run from it, else from the wheel."""
    source_tree = _PACKAGE_DIR.parent
    if (source_tree / "pyproject.toml").is_file() and (source_tree / name).exists():
        return source_tree / name
    return _PACKAGE_DIR / "_data" / name


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The home folder: the argument, else $TOKENLEDGER_HOME, else ./data."""
    chosen = home if home is not None else os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class Home:
    """Paths inside one home folder (see DESIGN.md, "One home folder holds all state")."""

    root: Path

    @classmethod
    def at(cls, home: str | os.PathLike | None = None) -> "Home":
        return cls(resolve_home(home))

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / ".dagster"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def gateway_landing(self, fmt: str) -> Path:
        return self.landing / "gateway" / fmt

    def lake_table(self, name: str) -> Path:
        return self.lake / name

    def ensure(self) -> "Home":
        for folder in (self.landing / "gateway" / "envelope", self.lake, self.reports, self.secrets):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def landing_url(self) -> str | None:
        """Where gateway landing files live when they are not under <home>/landing: $TOKENLEDGER_LANDING_URL."""
        return os.environ.get(LANDING_URL_ENV) or None

    @property
    def lake_url(self) -> str | None:
        """Where the lake lives when it is not <home>/lake: $TOKENLEDGER_LAKE_URL (for example s3://bucket/lake)."""
        return os.environ.get(LAKE_URL_ENV) or None

    @property
    def landing_store(self) -> "Store":
        """The landing folder as a Store: local <home>/landing, or the bucket prefix in $TOKENLEDGER_LANDING_URL."""
        return Store.at(self.landing_url or self.landing)

    @property
    def lake_store(self) -> "Store":
        """The lake as a Store: local <home>/lake, or the bucket prefix in $TOKENLEDGER_LAKE_URL."""
        return Store.at(self.lake_url or self.lake)

    @property
    def scratch(self) -> Path:
        """Local scratch space for one run's temporary files (DuckDB spill files, staged Parquet)."""
        return self.root / ".tmp"


LANDING_URL_ENV = "TOKENLEDGER_LANDING_URL"
LAKE_URL_ENV = "TOKENLEDGER_LAKE_URL"
S3_REQUEST_TIMEOUT = 60.0
S3_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Store:
    """A folder on local disk or under an S3-compatible URL, read and written through pyarrow's filesystems.

    Paths inside a store are relative, '/'-separated. For `s3://bucket/prefix` the endpoint, region and
    credentials come from the standard AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_PROFILE...), as every AWS SDK reads them.
    """

    url: str
    filesystem: object
    root: str

    @classmethod
    def at(cls, location: str | os.PathLike) -> "Store":
        import pyarrow.fs as pafs

        text = str(location)
        if "://" in text:
            scheme = text.split("://", 1)[0].lower()
            if scheme not in ("s3", "file"):
                raise ValueError(f"unsupported storage URL {text!r}: use a local folder or s3://bucket/prefix")
            if scheme == "file":
                filesystem, root = pafs.FileSystem.from_uri(text.rstrip("/"))
                return cls(text.rstrip("/"), filesystem, root.rstrip("/"))
            # The AWS SDK gives up on a transfer that moves nothing for request_timeout seconds (3 by
            # default): too short for a busy S3-compatible server, so allow a minute.
            filesystem = pafs.S3FileSystem(request_timeout=S3_REQUEST_TIMEOUT, connect_timeout=S3_CONNECT_TIMEOUT, **_s3_endpoint())
            return cls(text.rstrip("/"), filesystem, text.split("://", 1)[1].rstrip("/"))
        path = Path(text).expanduser().resolve()
        return cls(str(path), pafs.LocalFileSystem(), path.as_posix())

    @property
    def is_local(self) -> bool:
        import pyarrow.fs as pafs

        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def full(self, relative: str) -> str:
        """The filesystem path of `relative` inside the store."""
        return f"{self.root}/{relative}" if relative else self.root

    def uri(self, relative: str) -> str:
        """A path DuckDB or a person can read: the local path, or s3://bucket/key."""
        return self.full(relative) if self.is_local else f"s3://{self.full(relative)}"

    def files(self, relative: str = "", suffix: str = "") -> list[str]:
        """Relative paths of every file under `relative` (recursive, sorted), optionally ending with `suffix`."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.full(relative), allow_not_found=True, recursive=True)
        prefix = len(self.root) + 1
        found = [
            info.path[prefix:]
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.endswith(suffix)
        ]
        return sorted(found)

    def exists(self, relative: str) -> bool:
        import pyarrow.fs as pafs

        return self.filesystem.get_file_info(self.full(relative)).type == pafs.FileType.File

    def read_bytes(self, relative: str) -> bytes:
        with self.filesystem.open_input_stream(self.full(relative), compression=None) as stream:
            return stream.read()

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a whole object; on local disk through a temporary name and a rename, so readers never see half."""
        target = self.full(relative)
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            tmp = _hidden_tmp(target)
            Path(tmp).write_bytes(data)
            os.replace(tmp, target)
        else:
            with self.filesystem.open_output_stream(target, compression=None) as stream:
                stream.write(data)

    def put_file(self, local: str | os.PathLike, relative: str) -> None:
        """Move a finished local file into the store (a rename on local disk, an upload to a bucket)."""
        target = self.full(relative)
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(local, target)
            return
        import pyarrow.fs as pafs

        pafs.copy_files(str(local), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.filesystem)
        os.unlink(local)

    def delete(self, relative: str) -> None:
        import pyarrow.fs as pafs

        if self.filesystem.get_file_info(self.full(relative)).type == pafs.FileType.File:
            self.filesystem.delete_file(self.full(relative))


def _s3_endpoint() -> dict:
    """Endpoint and region from the standard AWS variables (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION)."""
    options = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.rpartition("://")
        options["endpoint_override"] = host.rstrip("/")
        options["scheme"] = scheme or "https"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return options


def _hidden_tmp(target: str) -> str:
    import uuid

    path = Path(target)
    return str(path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp"))
