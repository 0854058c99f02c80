"""Image bytes: one small interface (`BlobStore`) over the places they may live.

A blob is named by a key `<space>/<image id>`: `images/<id>` holds an image's data,
`staging/<id>` the bytes staged for an interoperable import. Keys come only from
`key()` below, never from a request, so no name a client sends reaches a path or a URL.

Writing is all or nothing: `writer()` gives a `BlobWriter`; nothing is visible under the key
until `commit()` returns (the bytes are then durable: fsynced, or a completed S3 upload), and
`abort()` leaves nothing behind. A crash between the two leaves at most a temporary (a file
under a temporary name, an unfinished multipart upload) that `sweep()` removes.

Which store a process uses comes from `OPENIMS_IMAGE_STORE` (`file:///path`, the default
`./data/images`, or `s3://bucket?endpoint=URL&region=NAME`); `open_store` reads it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

SPACES = ("images", "staging")
_KEY = re.compile(
    r"(images|staging)/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def key(space: str, image_id: str) -> str:
    """The key of an image's blob in `space`; refuses anything that is not a space and an id."""
    name = f"{space}/{image_id}"
    if not _KEY.fullmatch(name):
        raise ValueError(f"not a blob key: {name!r}")
    return name


def check_key(name: str) -> str:
    """`name` if it is a well-formed key (stores call this before touching a path or URL)."""
    if not _KEY.fullmatch(name):
        raise ValueError(f"not a blob key: {name!r}")
    return name


class BlobWriter(Protocol):
    async def write(self, chunk: bytes) -> None:
        """Append `chunk`. Bounded memory: a store buffers at most one part."""

    async def commit(self) -> None:
        """Make the bytes durable and visible under the key, replacing what was there."""

    async def abort(self) -> None:
        """Drop what was written; safe to call after a failure, and more than once."""


class BlobStore(Protocol):
    # The store's id as Glance names stores (`stores` on an image, `/v2/info/stores`):
    # "fs" for the file store, "s3" for an S3-compatible one.
    id: str

    async def writer(self, key: str) -> BlobWriter:
        """Start writing the blob `key` (see the module's docstring)."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from `start` up to `end` (exclusive; None: to the end), streamed.
        A missing blob raises FileNotFoundError."""

    def local_path(self, key: str) -> Path | None:
        """A path the server may `sendfile` from, if the blob is a local file; else None."""

    async def size(self, key: str) -> int | None:
        """The committed blob's size in bytes, or None when there is none."""

    async def copy(self, source: str, target: str) -> None:
        """Make `target` a blob with the bytes of the committed blob `source`, on the store's
        side (no byte passes through the process where the store can avoid it: a reflink or
        an in-kernel copy for files, CopyObject/UploadPartCopy for S3). All or nothing, as a
        writer: `target` is whole and durable once this returns, and a failure (or a crash)
        leaves it as it was, at most a temporary for `sweep`. A missing `source` raises
        FileNotFoundError."""

    async def delete(self, key: str) -> None:
        """Remove the committed blob; a missing one is not an error."""

    def keys(self) -> AsyncIterator[str]:
        """Every committed key (for `openims gc`)."""

    async def sweep(self, older_than: float) -> int:
        """Remove temporaries (unfinished writes) older than `older_than` seconds; how many.
        Older means idle: nothing written to it for that long. A live writer refreshes its
        temporary at least every 5 s (file) or with every part it sends (S3: 8 MiB or more),
        so a sweep spares it unless its client is slower than one part per `older_than`."""

    async def close(self) -> None: ...


_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
S3_PARAMETERS = ("endpoint", "region")


def open_store(url: str) -> BlobStore:
    """The store `url` names: `file:///abs/path`, `file://./relative/path` or a plain path (a
    `FileStore`), or `s3://bucket[/prefix]?endpoint=URL&region=NAME` (an `S3Store`; both
    parameters optional, credentials from the `AWS_*` environment). A bad URL is a ValueError
    of one line, so the command line can report it as it reports any bad setting."""
    text = url.strip()
    if not text:
        raise ValueError("image store: empty URL")
    if "://" not in text:
        return _file_store(Path(text))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.query or parts.fragment:
            raise ValueError(f"image store {url!r}: a file URL takes no query or fragment")
        if parts.netloc in (".", ".."):
            return _file_store(Path(parts.netloc + unquote(parts.path)))
        if parts.netloc not in ("", "localhost"):
            raise ValueError(
                f"image store {url!r}: use file:///absolute/path or file://./relative/path"
            )
        if not parts.path.startswith("/"):
            raise ValueError(f"image store {url!r}: no path")
        return _file_store(Path(unquote(parts.path)))
    if scheme == "s3":
        return _s3_store(url, parts.netloc, parts.path, parts.query, parts.fragment)
    raise ValueError(f"image store {url!r}: unknown scheme (use file://, s3:// or a path)")


def _file_store(path: Path) -> BlobStore:
    from openims.store.blobs.files import FileStore

    if not str(path).strip():
        raise ValueError("image store: empty path")
    return FileStore(path)


def _s3_store(url: str, bucket: str, path: str, query: str, fragment: str) -> BlobStore:
    if fragment:
        raise ValueError(f"image store {url!r}: an s3 URL takes no fragment")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"image store {url!r}: not a bucket name: {bucket!r}")
    endpoint, region = s3_parameters(f"image store {url!r}", query)
    prefix = unquote(path).strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError(f"image store {url!r}: bad prefix {prefix!r}")
    from openims.store.blobs.s3 import S3Store

    return S3Store(bucket, endpoint=endpoint, region=region, prefix=prefix)


def s3_parameters(what: str, query: str) -> tuple[str | None, str | None]:
    """The `endpoint` and `region` of an `s3://…?endpoint=URL&region=NAME` setting (the image
    store's and the object storage's alike): each at most once and not empty, nothing else, the
    endpoint an http(s) URL. Refusals are `ValueError`s that begin with `what`."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"{what}: malformed query") from None
    unknown = sorted(set(params) - set(S3_PARAMETERS))
    if unknown:
        raise ValueError(
            f"{what}: unknown parameter {unknown[0]!r} (known: {', '.join(S3_PARAMETERS)})"
        )
    for name, values in params.items():
        if len(values) != 1 or not values[0]:
            raise ValueError(f"{what}: {name} needs one non-empty value")
    endpoint = params.get("endpoint", [None])[0]
    if endpoint is not None:
        target = urlsplit(endpoint)
        if target.scheme not in ("http", "https") or not target.netloc:
            raise ValueError(f"{what}: endpoint must be an http(s) URL")
    return endpoint, params.get("region", [None])[0]
