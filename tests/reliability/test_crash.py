"""Crash safety: a write load against a real server, SIGKILL at a random moment, a restart, and
then every write the clients saw acknowledged must be there and the database must pass its
integrity checks. Several rounds, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability import consistency
from tests.reliability.scale import SCALE, TIMEOUT
from tests.reliability.writes import UPDATE_KINDS, Ack, Refused, create, missing
from tests.support.servers import Server, start_server

pytestmark = [pytest.mark.slow, TIMEOUT]

ROUNDS = SCALE.kills
THREADS = 3
SEED = 20181028
MIN_WRITES_BEFORE_KILL = 30  # per round, so every round kills a server that is busy writing


@dataclass
class Load:
    """Write threads against one server, recording what the server acknowledged."""

    server: Server
    round_no: int
    acks: list[Ack]
    lock: threading.Lock = field(default_factory=threading.Lock)
    refused: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(THREADS):
            t = threading.Thread(target=self._writer, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)

    def _writer(self, thread_no: int) -> None:
        rng = random.Random(f"{SEED}-{self.round_no}-{thread_no}")
        headers = {"X-Project-Id": "p-crash"}
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=30) as client:
            mine: list[str] = []
            for i in range(1_000_000):
                token = f"{self.round_no}-{thread_no}-{i}"
                try:
                    if not mine or rng.random() < 0.35:
                        ack = create(client, token)
                        mine.append(ack.image_id)
                    else:
                        kind = rng.choice(sorted(UPDATE_KINDS))
                        ack = UPDATE_KINDS[kind](client, rng.choice(mine), token)
                except httpx.TransportError:
                    return  # the server is gone: this write was never acknowledged
                except Refused as exc:
                    self.refused.append(str(exc))
                    return
                with self.lock:
                    self.acks.append(ack)

    def join(self) -> None:
        for t in self.threads:
            t.join(60)
            assert not t.is_alive()


def test_acknowledged_writes_survive_sigkill(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    acks: list[Ack] = []
    server = start_server(db_url, tmp_path, auth=False)
    try:
        for round_no in range(ROUNDS):
            load = Load(server, round_no, acks)
            before = len(acks)
            load.start()
            deadline = time.monotonic() + 60
            while len(acks) - before < MIN_WRITES_BEFORE_KILL:
                assert time.monotonic() < deadline and not load.refused, load.refused
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.0))  # the random moment
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            load.join()
            assert load.refused == []
            server.stop()

            server = start_server(db_url, tmp_path, auth=False)
            assert consistency.problems(db_url) == []
            with httpx.Client(
                base_url=server.url, headers={"X-Project-Id": "p-crash"}, timeout=30
            ) as client:
                assert missing(client, acks) == []
        kinds = {kind: sum(a.kind == kind for a in acks) for kind in ("create", *UPDATE_KINDS)}
        print(f"{ROUNDS} kills survived, {len(acks)} acknowledged writes checked: {kinds}")
        assert all(kinds.values()), kinds  # every kind of write was exercised
    finally:
        server.stop()
