"""`Services`: the use cases of one process over one database, opened from the settings."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from openims import errors, metrics
from openims.config import Settings
from openims.domain.access import Caller
from openims.domain.flavors import FlavorCatalog
from openims.domain.quotas import Limits
from openims.service import jobs_for_tests
from openims.service.console import SignOuts
from openims.service.copies import Copies
from openims.service.creation import Creation
from openims.service.exports import Exports
from openims.service.image_data import ImageData
from openims.service.images import Images
from openims.service.ims_info import ImsInfo
from openims.service.jobs import Jobs
from openims.service.listing import Listing
from openims.service.member_batches import MemberBatches
from openims.service.quotas import Quotas
from openims.service.sharing import Sharing
from openims.service.tags import Tags
from openims.store.blobs import BlobStore, open_store
from openims.store.engine import create_engine
from openims.store.images import ImageStore
from openims.store.jobs import JobStore
from openims.store.obs import ObjectStorage, open_obs


class Services:
    """Everything a request or a command may ask for. Opening it connects to nothing: the
    first statement does (so building the application never touches the database)."""

    def __init__(
        self,
        store: ImageStore,
        flavors: FlavorCatalog,
        blob_store: BlobStore,
        settings: Settings,
        obs: ObjectStorage | None = None,
    ) -> None:
        self.store = store
        self.blobs = blob_store
        # the IMS object storage (`image_url`, `bucket_url`): `OPENIMS_OBS` unless given
        self.obs = obs if obs is not None else open_obs(settings.obs)
        self.data = ImageData(
            store,
            blob_store,
            max_bytes=settings.max_image_bytes,
            hash_algorithm=settings.hash_algorithm,
            lease=settings.upload_lease,
            web_download_allow=settings.web_download_allow,
        )
        self.store_properties = _store_properties(blob_store)
        self.images = Images(store, self.data)
        self.sharing = Sharing(store)
        self.listing = Listing(store, flavors)
        self.ims_info = ImsInfo()
        # every project's limits, enforced by the store wherever an image or its bytes are
        # written (docs/quotas.md)
        store.quota_defaults = Limits(settings.image_quota, settings.image_bytes_quota)
        self.quotas = Quotas(store, store.quota_defaults)
        self.tags = Tags(store)
        # the console's signed-out sessions, refused by every process (docs/console.md)
        self.sign_outs = SignOuts(store)
        # asynchronous jobs: each service that owns a kind of job registers its handler here
        # (`self.jobs.register(job_type, handler)`); the workers start with the application
        self.jobs = Jobs(
            JobStore(store, placement(blob_store, self.obs)),
            lease=settings.job_lease,
            attempts=settings.job_attempts,
            workers=settings.job_workers,
            poll=settings.job_poll,
            retention=settings.job_retention_days * 86400,
        )
        if settings.test_jobs:
            jobs_for_tests.register(self.jobs)
        # creating images from the IMS object storage (its job handlers register themselves)
        self.creation = Creation(
            store, self.data, self.obs, self.jobs, self.quotas, max_bytes=settings.max_image_bytes
        )
        self.exports = Exports(
            store,
            blob_store,
            self.obs,
            self.jobs,
            scratch=_scratch(settings, blob_store),
            timeout=settings.export_timeout,
        )
        self.copies = Copies(store, self.data, self.jobs, self.quotas, region=settings.region)
        self.member_batches = MemberBatches(self.sharing, self.jobs)

    @classmethod
    def open(cls, settings: Settings, *, pool_size: int | None = None) -> Services:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.pool_size if pool_size is None else pool_size,
            timeout=settings.database_timeout,
        )
        return cls(
            ImageStore(engine),
            FlavorCatalog.load(settings.flavors),
            open_store(settings.image_store),
            settings,
        )

    async def ping(self) -> None:
        """One round trip to the database (`/healthz`)."""
        await self.store.ping()

    def observe_pool(self) -> None:
        """Publish the connection pool's gauges (`/metrics`)."""
        metrics.observe_pool(self.store.engine)

    def stores(self) -> list[dict[str, str]]:
        """`GET /v2/info/stores`: the one store, the default (a string, as Glance has it)."""
        return [{"id": self.blobs.id, "default": "true"}]

    def stores_detail(self, caller: Caller) -> list[dict[str, Any]]:
        """`GET /v2/info/stores/detail`, for admins (Glance's `stores_info_detail` policy):
        the store's type and where it keeps the bytes, never a credential."""
        if not caller.is_admin:
            raise errors.STORES_DETAIL_FORBIDDEN()
        return [
            {
                "id": self.blobs.id,
                "default": "true",
                "type": "file" if self.blobs.id == "fs" else self.blobs.id,
                "weight": 0,
                "properties": self.store_properties,
            }
        ]

    async def close(self) -> None:
        await self.jobs.stop()  # running jobs are given back first
        await self.data.close()  # running imports put their images back first
        await self.blobs.close()
        await self.obs.close()
        await self.store.engine.dispose()


def _store_properties(blob_store: object) -> dict[str, Any]:
    """Where the store keeps the bytes, as an administrator may read it: the directory of the
    file store; the bucket, prefix, region and endpoint (without any user part) of an S3 one.
    Credentials live only in the environment and are never shown."""
    found: dict[str, Any] = {}
    root = getattr(blob_store, "root", None)
    if root is not None:
        found["datadir"] = str(root)
    for name in ("bucket", "prefix", "region"):
        value = getattr(blob_store, name, None)
        if value is not None:
            found[name] = value
    endpoint = getattr(blob_store, "endpoint", None)
    if isinstance(endpoint, str):
        parts = urlsplit(endpoint)
        host = parts.netloc.rsplit("@", 1)[-1]
        found["endpoint"] = f"{parts.scheme}://{host}{parts.path}"
    return found


def placement(*stores: object) -> str:
    """Which servers may run a job this one accepts: a digest of where its stores keep bytes
    (directory, bucket, prefix, region, endpoint; never a credential). Replicas configured
    alike share it; a server with other stores on the same database has another."""
    where = [_store_properties(found) for found in stores]
    for found in where:  # a relative directory is another one from another working directory
        if "datadir" in found:
            found["datadir"] = os.path.abspath(found["datadir"])
    return hashlib.sha256(orjson.dumps(where, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _scratch(settings: Settings, blob_store: BlobStore) -> Path:
    """Where exports convert: `OPENIMS_SCRATCH_DIR`, else beside the file store's blobs (a
    `.scratch` directory, which is no space of the store's), else the system's temporary
    directory."""
    if settings.scratch_dir is not None:
        return settings.scratch_dir.absolute()
    root = getattr(blob_store, "root", None)
    if isinstance(root, Path):
        return root / ".scratch"
    return Path(tempfile.gettempdir()) / "openims-scratch"
