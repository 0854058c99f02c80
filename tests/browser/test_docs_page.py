"""`/docs` works without internet access: the page and every file it loads come from the
server itself, and a real browser that can reach nothing but loopback renders the operation
list."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.support.servers import Server


class _References(HTMLParser):
    """Every URL an HTML page makes the browser fetch (scripts, stylesheets, icons, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("src", "href"):
                self.urls.append(value)


def test_the_page_and_every_file_it_loads_come_from_the_server(server: Server) -> None:
    client = server.client()
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    found = _References()
    found.feed(page.text)
    assert len(found.urls) >= 3, found.urls  # the script, the stylesheet, the icon
    own = urlsplit(server.url)
    inline_urls = re.findall(r"""(?:url|href|src)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    for reference in [*found.urls, *inline_urls]:
        absolute = urlsplit(urljoin(server.url + "/docs", reference))
        assert (absolute.scheme, absolute.netloc) == (own.scheme, own.netloc), reference
        asset = client.get(absolute.path)
        assert asset.status_code == 200, reference
        assert asset.content, reference


def test_assets_are_public_and_nothing_else_is_served_from_their_folder(server: Server) -> None:
    client = server.client()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        assert client.get(f"/docs/assets/{name}").status_code == 200
    for name in ("core.py", "..%2f__init__.py", "redoc.standalone.js", "%2e%2e%2fconsts.py"):
        refused = client.get(f"/docs/assets/{name}")
        assert refused.status_code == 404, name
        assert refused.json()["error"]["code"] == "APIGW.0101"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_browser_limited_to_loopback_renders_the_operation_list(server: Server) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: scripts/ensure-chromium installs it")
        pytest.skip("Chromium is not installed (run-tests installs it as root)")
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            # every host name but the server's own address resolves to nothing, and no proxy
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--no-proxy-server",
            "--virtual-time-budget=15000",
            "--dump-dom",
            server.url + "/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Swagger UI rendered the description: operation summaries and paths are in the DOM
    assert "Query images (IMS)" in dom.stdout, dom.stdout[-2000:]
    assert "/v2/cloudimages" in dom.stdout
    assert "Create image metadata" in dom.stdout
