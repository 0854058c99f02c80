"""The use cases: what a caller can do with images, in plain values.

Each module holds one concern (`images`, `sharing`, `listing`; `transfer` and `demo` for the
command line). A use case takes the caller and plain values, asks the domain what is allowed,
has the store do it, and returns domain values (documents, members, pages); it knows nothing
of HTTP. `Services` opens them all over one store from the settings: the API holds one per
process, the command line one per command."""

from __future__ import annotations

from openims.service.context import Services

__all__ = ["Services"]
