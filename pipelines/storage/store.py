"""A folder on local disk or under an S3-compatible URL: where landing files and the lake are kept."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

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
            try:
                os.replace(local, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                tmp = _hidden_tmp(target)  # scratch and lake on two filesystems: copy beside the target, then rename
                try:
                    shutil.copyfile(local, tmp)
                    os.replace(tmp, target)
                finally:
                    Path(tmp).unlink(missing_ok=True)
                os.unlink(local)
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
