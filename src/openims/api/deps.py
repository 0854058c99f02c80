"""What routes ask for: the store and the caller."""

from __future__ import annotations

from starlette.requests import Request

from openims.domain import errors
from openims.domain.access import Caller
from openims.store.images import ImageStore


async def store(request: Request) -> ImageStore:
    """Async so FastAPI calls it inline instead of in its thread pool."""
    image_store: ImageStore = request.app.state.store
    return image_store


async def caller(request: Request) -> Caller:
    """The caller `api.authentication` established before routing (it is also what the access
    log records). A route on a public path has none: asking for one there is refused."""
    who: Caller | None = request.scope.get("state", {}).get("caller")
    if who is None:
        raise errors.UNAUTHORIZED()
    return who


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query string as (name, value) pairs, repeats kept, blanks kept."""
    return request.query_params.multi_items()
