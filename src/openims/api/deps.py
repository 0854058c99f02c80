"""What routes ask for: the store and the caller."""

from __future__ import annotations

from starlette.requests import Request

from openims.domain.access import Caller
from openims.store.images import ImageStore


async def store(request: Request) -> ImageStore:
    """Async so FastAPI calls it inline instead of in its thread pool."""
    image_store: ImageStore = request.app.state.store
    return image_store


async def caller(request: Request) -> Caller:
    """The authenticated caller; also recorded for the access log."""
    who: Caller = await request.app.state.authenticator.authenticate(request)
    request.scope.setdefault("state", {})["caller"] = who
    return who


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query string as (name, value) pairs, repeats kept, blanks kept."""
    return request.query_params.multi_items()
