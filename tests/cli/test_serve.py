"""The README's first command: `openims serve --demo --no-auth` on the SQLite default."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.seeds import QUERY_EXAMPLE
from tests.support.servers import free_port


def test_serve_demo_on_the_default_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openims", "serve", "--demo", "--no-auth", "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert (tmp_path / "data" / "openims.db").exists()
        gold = httpx.get(
            f"{base}/v2/cloudimages",
            params={"__imagetype": "gold", "__os_type": "Linux", "limit": 1},
        ).json()["images"][0]
        doc = httpx.get(f"{base}/v2/images/{gold['id']}").json()  # plain curl, no headers
        assert set(QUERY_EXAMPLE) - {"__support_kvm_fpga_type"} <= set(doc)
        for key in ("protected", "deleted"):
            assert isinstance(doc[key], bool)
        assert doc["virtual_size"] is None
        assert doc["__imagetype"] == "gold" and doc["visibility"] == "public"
        # the banner's example image is one the demo caller owns and may update: it used to be
        # a gold image, on which the README's update examples are a 403
        err = log.read_text()
        assert "authentication is OFF" in err
        [mine] = re.findall(rf"curl {base}/v2/images/([0-9a-f-]{{36}})\n", err)
        assert f"({mine}: an active image of project demo, which may update it)" in err
        shown = httpx.get(f"{base}/v2/images/{mine}").json()
        assert (shown["owner"], shown["status"]) == ("demo", "active")
        updated = httpx.patch(
            f"{base}/v2/cloudimages/{mine}",
            json=[
                {"op": "replace", "path": "/name", "value": "web-01"},
                {"op": "add", "path": "/__description", "value": "web servers"},
            ],
        )
        assert updated.status_code == 200, updated.text
        # the demo's image with data downloads as the banner shows, a real qcow2
        [with_data] = re.findall(rf"-O {base}/v2/images/([0-9a-f-]{{36}})/file\n", err)
        meta = httpx.get(f"{base}/v2/images/{with_data}").json()
        assert (meta["status"], meta["disk_format"], meta["stores"]) == ("active", "qcow2", "fs")
        assert meta["virtual_size"] == 64 * 2**20
        data = httpx.get(f"{base}/v2/images/{with_data}/file").content
        assert data.startswith(b"QFI\xfb") and len(data) == meta["size"]
        assert hashlib.md5(data, usedforsecurity=False).hexdigest() == meta["checksum"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
