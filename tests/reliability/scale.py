"""How much the reliability tests do, in one table: the default scale, which CI runs, and the
soak scale, chosen with `OPENIMS_SOAK=1`.

The tests read their numbers from `SCALE` and report what they achieved (`-rP` shows it). The
soak scale runs, per backend, at least 10,000 fuzzed requests, 20 SIGKILLs under write load and
1,000 concurrent patches of one image per concurrency test, so its per-test timeout is longer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tests.support.databases import BACKENDS

SOAK = os.environ.get("OPENIMS_SOAK") == "1"


@dataclass(frozen=True)
class Scale:
    fuzz_examples: int  # test_fuzz: per operation, mode and target, with authentication on
    anonymous_examples: int  # test_fuzz: per operation and mode, without a valid credential
    no_auth_examples: int  # test_fuzz: per operation, mode and target, emulator mode
    query_examples: int  # test_fuzz: random query strings
    patch_examples: int  # test_patch_fuzz: each of the Glance patch and IMS update fuzzers
    kills: int  # test_crash: SIGKILLs, one per round
    patch_clients: int  # test_patch_concurrency: clients released at once on one image
    patch_rounds: int  # test_patch_concurrency: patches per client
    replica_writes: int  # test_replicas: writes of each kind per thread
    timeout: int  # seconds per test (pytest-timeout)


SCALES = {
    "default": Scale(
        fuzz_examples=30,
        anonymous_examples=8,
        no_auth_examples=8,
        query_examples=300,
        patch_examples=300,
        kills=5,
        patch_clients=12,
        patch_rounds=4,
        replica_writes=10,
        timeout=300,
    ),
    "soak": Scale(
        fuzz_examples=120,
        anonymous_examples=32,
        no_auth_examples=32,
        query_examples=1200,
        patch_examples=1200,
        kills=20,
        patch_clients=20,
        patch_rounds=50,  # 20 x 50 = 1,000 patches of one image per test
        replica_writes=20,  # 2 x 3 x 20 = 120 tags: an image holds at most 128
        timeout=3600,
    ),
}

SCALE = SCALES["soak" if SOAK else "default"]

TIMEOUT = pytest.mark.timeout(SCALE.timeout)


def on_backend(default: str) -> pytest.MarkDecorator:
    """Run a whole-API fuzz on `default` only at the default scale, on both at soak scale.

    Each fuzz sends every operation of the description many times, and the description grows
    with the API; at the default scale each mode runs on the database its users have (the
    emulator's SQLite, production's PostgreSQL), so every operation still meets both."""
    chosen = BACKENDS if SOAK else [b for b in BACKENDS if _name(b) == default]
    return pytest.mark.parametrize("backend", chosen, indirect=True)


def _name(backend: object) -> str:
    values = getattr(backend, "values", None)
    return str(values[0]) if values else str(backend)
