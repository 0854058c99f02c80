"""`Services`: the use cases of one process over one database, opened from the settings."""

from __future__ import annotations

from openims import metrics
from openims.config import Settings
from openims.domain.flavors import FlavorCatalog
from openims.service.image_data import ImageData
from openims.service.images import Images
from openims.service.listing import Listing
from openims.service.sharing import Sharing
from openims.store.blobs import BlobStore, open_store
from openims.store.engine import create_engine
from openims.store.images import ImageStore


class Services:
    """Everything a request or a command may ask for. Opening it connects to nothing: the
    first statement does (so building the application never touches the database)."""

    def __init__(
        self, store: ImageStore, flavors: FlavorCatalog, blob_store: BlobStore, settings: Settings
    ) -> None:
        self.store = store
        self.blobs = blob_store
        self.data = ImageData(
            store,
            blob_store,
            max_bytes=settings.max_image_bytes,
            hash_algorithm=settings.hash_algorithm,
            lease=settings.upload_lease,
        )
        self.images = Images(store, self.data)
        self.sharing = Sharing(store)
        self.listing = Listing(store, flavors)

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

    async def close(self) -> None:
        await self.blobs.close()
        await self.store.engine.dispose()
