"""An error answers in the words of the face whose route serves the path (`errors.is_ims_path`),
whatever the path's parameters hold: a project named `images` or `schemas` in an IMS path
(`/v2/images/images/resource_instances/action`) must not turn its errors, its 401 included,
into Glance's."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Match, Route

from openims import errors
from openims.api.app import create_app
from openims.config import Settings

# values a path parameter may hold that are also fixed segments of some route
SEGMENTS = [
    "images",
    "schemas",
    "info",
    "tasks",
    "cloudimages",
    "tags",
    "members",
    "file",
    "stage",
    "import",
    "actions",
    "action",
    "resource_instances",
    "x",
]
IMS_TEMPLATES = ("/v1", "/v2/cloudimages", "/v2.1/cloudimages", "/v2/{project_id}/")


def _routes(tmp_path: Path) -> list[Route]:
    """The app's API routes in the order routing tries them (an included router's in its
    place: FastAPI keeps each included router as one entry)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", no_auth=True))
    flat: list[Any] = []
    for entry in app.routes:
        included = getattr(entry, "original_router", None)
        flat += included.routes if included is not None else [entry]
    return [r for r in flat if isinstance(r, Route) and r.path.startswith(("/v1", "/v2"))]


def _served_by(routes: list[Route], path: str) -> Route | None:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:  # a path of another method's route is still its face's
            return route
    return None


def _paths(template: str) -> list[str]:
    names = re.findall(r"{([^}]+)}", template)
    if len(names) > 3:
        pytest.fail(f"{template}: more parameters than this test fills")
    out = []
    for values in itertools.product(SEGMENTS, repeat=len(names)):
        path = template
        for name, value in zip(names, values, strict=True):
            path = path.replace("{" + name + "}", value, 1)
        out.append(path)
    return out


def test_every_path_answers_in_the_words_of_the_route_that_serves_it(tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    assert any("{project_id}/images" in r.path for r in routes)
    wrong = []
    for route in routes:
        for path in _paths(route.path):
            served = _served_by(routes, path)
            assert served is not None, path
            ims = served.path.startswith(IMS_TEMPLATES)
            if errors.is_ims_path(path) != ims:
                wrong.append(f"{path} (served by {served.path})")
    assert not wrong, "\n".join(wrong)
