"""Settings. Every option can come from the command line or from `OPENIMS_<NAME>` in the
environment; `openims serve` passes its options to worker processes through the environment,
so this class is the one place that reads them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_serializer, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_URL = "sqlite:///./data/openims.db"
DEFAULT_CREDENTIALS = Path("./data/credentials.toml")
LOG_LEVELS = ("debug", "info", "warning", "error")  # the documented ones; logging knows more
PORTS = (1, 65535)
WORKERS = (1, 64)
# what `hash_algorithm` may name: hashlib's guaranteed ones that Glance accepts
HASH_ALGORITHMS = ("sha512", "sha384", "sha256", "sha3_512", "sha3_256", "blake2b", "md5")
DATABASE_URL_FORMS = "sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"


def check_database_url(url: str) -> str:
    """`url` if it names a database OpenIMS can use: a SQLite file (`sqlite:///PATH`) or a
    PostgreSQL database (`postgresql://…`, or its alias `postgres://`). Anything else is a
    ValueError, so that neither a typo (taken for a file name) nor another database's URL gets
    as far as a driver."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return url
    if url.startswith(("postgresql://", "postgres://")):
        return url
    raise ValueError(f"expected {DATABASE_URL_FORMS}")


def check_url_prefix(text: str) -> str:
    """A web-download URL prefix as it will be compared: `http(s)://host[:port]/[path]`, the
    scheme and host in lower case, a `/` after a bare host (so `http://a.example` cannot admit
    `http://a.example.evil.net/`). No user, query or fragment: a prefix names a place, and
    secrets have no business in a setting that is logged. Anything else is a ValueError."""
    prefix = text.strip()
    parts = urlsplit(prefix)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{prefix!r} is not an http:// or https:// URL prefix")
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in prefix or "#" in prefix:
        raise ValueError(f"{prefix!r}: a URL prefix takes no user, query or fragment")
    try:
        parts.port  # noqa: B018 (raises for a port that is not a number in range)
    except ValueError:
        raise ValueError(f"{prefix!r}: bad port") from None
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in prefix):
        raise ValueError(f"{prefix!r}: a URL prefix has no spaces or backslashes")
    path = parts.path or "/"
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


IMAGE_QUOTA = (1, 1000)  # the least and the most `image_quota` may be, as IMS reports them
IMAGE_QUOTA_DEFAULT = 20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENIMS_", extra="ignore")

    database_url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = Field(default=9292, ge=PORTS[0], le=PORTS[1])
    workers: int = Field(default=1, ge=WORKERS[0], le=WORKERS[1])
    credentials: Path = DEFAULT_CREDENTIALS
    no_auth: bool = False
    demo: bool = False
    flavors: Path | None = None  # a flavor catalog replacing the packaged one
    pool_size: int = 10
    # PostgreSQL: seconds one statement may take before its request gets a 503 (a database
    # that hangs, or a lock held too long); connecting gives up after at most 5 seconds
    database_timeout: float = Field(default=30.0, gt=0)
    max_body_bytes: int = 1024 * 1024
    max_patch_operations: int = 100  # operations in one JSON Patch body
    max_query_bytes: int = 8192
    # --- request limits and timeouts (see openims.api.http.limits) ---
    max_header_bytes: int = 32 * 1024  # all header names and values of one request together
    header_timeout: float = 10.0  # seconds for a request head to arrive, from the first byte
    body_timeout: float = 30.0  # seconds for a whole request body to arrive
    keep_alive_timeout: int = 5  # seconds an idle keep-alive connection stays open
    # --- image data (docs/image-data.md) ---
    # where image bytes live: file:///PATH (or a plain path) or s3://BUCKET?endpoint=URL&region=R
    image_store: str = "file://./data/images"
    max_image_bytes: int = Field(default=1024**4, ge=0)  # the most one image may hold: 1 TiB
    # the IMS object storage of `image_url` / `bucket_url` ("bucket:key"): a directory of bucket
    # directories (a path or file:// URL) or s3://?endpoint=URL&region=R (docs/ims-creating.md)
    obs: str = "./data/obs"
    hash_algorithm: str = "sha512"  # `os_hash_algo`, as Glance's `hashing_algorithm`
    # seconds an upload may go without a heartbeat before any replica takes its process for
    # dead and puts the image back as it was (heartbeats come every third of this)
    upload_lease: float = Field(default=60.0, gt=0)
    # web-download imports: the URL prefixes an import may fetch from (comma separated in
    # OPENIMS_WEB_DOWNLOAD_ALLOW); empty, the default, turns web-download off
    web_download_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # --- asynchronous jobs (docs/jobs.md) ---
    # seconds a job's claim lasts without renewal (renewed every third of it): a job whose
    # server died is run again by another worker this long after its last renewal
    job_lease: float = Field(default=60.0, gt=0)
    job_attempts: int = Field(default=3, ge=1)  # runs a job gets before a lapsed claim fails it
    job_workers: int = Field(default=2, ge=0)  # jobs one process runs at once (0: none)
    job_poll: float = Field(default=1.0, gt=0)  # seconds between looks for jobs when idle
    # days an ended job stays queryable before the servers' sweep removes it (0: for ever)
    job_retention_days: float = Field(default=30.0, ge=0)
    # for OpenIMS's own crash tests only: run the `openimsTestSleep` job type, which no route
    # submits (service/jobs_for_tests.py); never needed in production
    test_jobs: bool = False
    log_level: str = "info"
    access_log: bool = True
    # the images a project may own (`GET /v1/cloudimages/quota` reports it; creating past it is
    # refused with IMS's IMG.0015): IMS's documented example (quota 20, min 1, max 1000) gives
    # the default and the bounds; `openims quota set` sets a project's own (docs/quotas.md)
    image_quota: int = Field(default=IMAGE_QUOTA_DEFAULT, ge=IMAGE_QUOTA[0], le=IMAGE_QUOTA[1])
    # the bytes of image data a project's images may hold together; 0, the default, is no
    # limit (IMS documents none; Glance's `user_storage_quota` reads 0 so too)
    image_bytes_quota: int = Field(default=0, ge=0)
    # --- exporting and copying (docs/ims-export-copy.md) ---
    # the one region this deployment is: `copy_image_cross_region` refuses every other one
    region: str = Field(default="cn-north-4", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    # where an export converts (qemu-img) and keeps its temporary files: by default a
    # `.scratch` directory beside the file store's blobs, or the system's temporary directory
    # for an S3 store. An export needs about the image's disk size free here
    scratch_dir: Path | None = None
    # seconds one export's conversion may take before it is stopped and the job fails
    export_timeout: float = Field(default=3600.0, gt=0)
    # --- the web console (docs/console.md) ---
    # the key that signs console session cookies: at least 32 characters. Unset, `serve`
    # draws a random one at start (shared by its workers), so sessions end with the process;
    # replicas behind one address need the same value.
    console_secret: str | None = Field(default=None, min_length=32, repr=False)
    # how long a console session lasts after signing in
    console_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("hash_algorithm")
    @classmethod
    def _known_hash(cls, value: str) -> str:
        if value not in HASH_ALGORITHMS:
            raise ValueError(f"expected one of {', '.join(HASH_ALGORITHMS)}")
        return value

    @field_validator("web_download_allow", mode="before")
    @classmethod
    def _url_prefixes(cls, value: Any) -> list[str]:
        """Comma-separated text (the environment's form, and how `serve` hands the setting to
        its workers) or a list; each entry checked by `check_url_prefix`."""
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple):
            raise ValueError("expected comma-separated http(s) URL prefixes")
        return [check_url_prefix(str(v)) for v in value if str(v).strip()]

    @field_serializer("web_download_allow")
    def _joined(self, value: list[str]) -> str:
        return ",".join(value)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        """Checked here, with the other settings, so a typo is a one-line error when the
        command starts, not a ValueError from logging once the server is half up."""
        level = value.strip().lower()
        if level.upper() not in logging.getLevelNamesMapping():
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level
