"""The README's first command: `openims serve --demo --no-auth` on the SQLite default."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.seeds import QUERY_EXAMPLE
from tests.support.servers import free_port


def test_serve_demo_on_the_default_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openims", "serve", "--demo", "--no-auth", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
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
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert b"authentication is OFF" in err
    assert f"curl http://127.0.0.1:{port}/v2/images/{gold['id']}".encode() in err
