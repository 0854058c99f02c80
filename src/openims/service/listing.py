"""Lists of images: one page of `GET /v2/images` (Glance) or `GET /v2/cloudimages` (IMS),
each face's query string read by `domain.query` and answered by one indexed query."""

from __future__ import annotations

from dataclasses import dataclass, replace

from openims.domain import documents, query
from openims.domain.access import Caller
from openims.domain.flavors import FlavorCatalog
from openims.domain.query import Params
from openims.store.images import ImageStore


@dataclass(frozen=True, slots=True)
class Page:
    """Stored documents, in order; `next_marker` is the id a next page starts after, when the
    page is full (there may be more)."""

    docs: list[bytes]
    next_marker: str | None


class Listing:
    def __init__(self, store: ImageStore, flavors: FlavorCatalog) -> None:
        self.store = store
        self.flavors = flavors

    async def glance(self, caller: Caller, params: Params) -> Page:
        q = query.parse_glance(params, caller)
        docs = await self.store.query(q, caller)
        full = bool(docs) and len(docs) == q.limit
        return Page(docs, documents.parse(docs[-1])["id"] if full else None)

    async def ims(
        self, caller: Caller, params: Params, order: query.Sort | None = None
    ) -> list[bytes]:
        """`GET /v2/cloudimages`; `order`, if given, in place of the query's own sort (the
        console sorts by columns IMS has no sort key for)."""
        q = query.parse_ims(params, caller)
        if order is not None:
            q = replace(q, sort=order)
        flavor_clauses = self.flavors.clauses(q.extra.get("flavor_id"))
        return await self.store.query(q, caller, extra_clauses=flavor_clauses)
