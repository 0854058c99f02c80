"""The README's first steps, run as printed against real `openims serve` processes, so that the
README and the behaviour cannot drift apart: its commands (from a directory where `.venv` is
this suite's environment, without it on PATH, as in a fresh clone), its curl calls and every
Python example, in emulator mode and again with authentication on.

What is substituted: the port (the README's 9292 may be taken; `OPENIMS_PORT` moves it), and the
placeholders the README explains (`<id>`, the image the banner prints; `<token>`, `<ak>` and
`<sk>`, what `token add` and `credentials add` printed)."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = pytest.mark.clients

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PRINTED_URL = "http://127.0.0.1:9292"


@dataclass(frozen=True)
class Block:
    section: str  # the `## ` heading it is under
    language: str
    text: str


def blocks() -> list[Block]:
    found: list[Block] = []
    lines: list[str] = []
    section = ""
    fence: str | None = None
    for line in README.read_text().splitlines():
        if fence is None and line.startswith("## "):
            section = line[3:].strip()
        elif fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            found.append(Block(section, fence, "\n".join(lines) + "\n"))
            fence = None
        elif fence is not None:
            lines.append(line)
    return found


def section(name: str, language: str) -> list[Block]:
    chosen = [b for b in blocks() if b.section == name and b.language == language]
    assert chosen, f"no {language} block under '## {name}'"
    return chosen


@dataclass
class Place:
    """A directory like a fresh clone's after the first command: `.venv` is this suite's
    environment, which is not on PATH."""

    path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        venv_bin = str(Path(sys.prefix) / "bin")
        path = os.pathsep.join(
            p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENIMS_", "OS_"))}
        return {**env, "PATH": path, "OPENIMS_PORT": str(self.port)}

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """One shell command as printed, with the port it prints moved to ours."""
        return subprocess.run(
            ["bash", "-c", command.replace(PRINTED_URL, self.url)],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def place(tmp_path: Path) -> Place:
    (tmp_path / ".venv").symlink_to(sys.prefix)
    return Place(tmp_path, free_port())


@contextmanager
def serve(place: Place, command: str) -> Iterator[str]:
    """Start the printed `openims serve` command, wait until it answers, and yield the id the
    banner prints (an active image of project demo)."""
    log = place.path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            shlex.split(command, comments=True),
            cwd=place.path,
            env=place.env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{place.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        [image_id] = re.findall(
            r"\(([0-9a-f-]{36}): an active image of project demo, which may update it\)",
            log.read_text(),
        )
        yield image_id
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_examples(place: Place, secrets: dict[str, str]) -> list[str]:
    """Every Python example of "Calling it", saved as example.py and run with the environment's
    Python as the README says; their output."""
    outputs = []
    for block in section("Calling it", "python"):
        code = block.text.replace(PRINTED_URL, place.url)
        for placeholder, value in secrets.items():
            code = code.replace(placeholder, value)
        assert not re.findall(r"<[a-z_]+>", code), (
            f"a placeholder the README does not explain: {code}"
        )
        (place.path / "example.py").write_text(code)
        done = place.run(".venv/bin/python example.py")
        assert done.returncode == 0, f"{block.text}\n{done.stdout}{done.stderr}"
        outputs.append(done.stdout)
    return outputs


def first_command() -> list[str]:
    [setup] = section("Set up on a fresh machine", "sh")[:1]
    steps = [step.strip() for step in setup.text.strip().split("&&")]
    # creating the environment and installing into it is what this suite's own set-up did
    assert steps[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -q -e ."], steps
    return steps[2:]


def test_the_readme_in_emulator_mode(place: Place) -> None:
    [command] = first_command()
    assert command == ".venv/bin/openims serve --demo --no-auth"
    with serve(place, command) as image_id:
        [curls] = section("Calling it", "sh")[:1]
        script = 'set -e\ncurl() { command curl -sS --fail-with-body "$@"; echo; }\n'
        done = place.run(script + curls.text.replace("<id>", image_id))
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count('"id":') >= 4, done.stdout
        secrets = {"<id>": image_id, "<token>": "any", "<ak>": "any-ak", "<sk>": "any-sk"}
        run_examples(place, secrets)
        renamed = httpx.get(f"{place.url}/v2/images/{image_id}").json()
        assert (renamed["name"], renamed["__description"]) == ("web-01", "web servers")
        # the console the README opens next shows the catalog, without signing in
        [opened] = section("Set up on a fresh machine", "sh")[1:2]
        url = opened.text.split()[1].replace(PRINTED_URL, place.url)
        console = httpx.get(url, follow_redirects=True)
        assert console.status_code == 200
        assert "Public images" in console.text


def test_the_readme_with_authentication_on(place: Place) -> None:
    [commands] = section("Authentication", "sh")
    *adds, serve_command = [line for line in commands.text.splitlines() if line.strip()]
    printed = {}
    for line in adds:
        done = place.run(line)  # `openims` as printed: not found unless it is the venv's
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        printed[tuple(shlex.split(line, comments=True)[1:])] = done.stdout
    keys = dict(
        row.split(" = ", 1)
        for row in printed[("credentials", "add", "--project-id", "demo")].splitlines()
    )
    assert keys["project_id"] == "demo"
    token = printed[("token", "add", "--project-id", "demo")].strip()
    with serve(place, serve_command) as image_id:
        secrets = {
            "<id>": image_id,
            "<token>": token,
            "<ak>": keys["access_key"],
            "<sk>": keys["secret_key"],
        }
        run_examples(place, secrets)
        renamed = httpx.get(
            f"{place.url}/v2/images/{image_id}", headers={"X-Auth-Token": token}
        ).json()
        assert renamed["name"] == "web-01"
        # and the same examples without the secrets are refused
        refused = place.run(f"curl -s -o /dev/null -w '%{{http_code}}' {place.url}/v2/images")
        assert refused.stdout == "401"


def test_the_clients_extra_installs_what_the_examples_import() -> None:
    """The README installs `.[clients]` where the examples start: every module they import is
    one of its distributions, or one those require."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    clients = {re.split(r"[<>=\[ ]", r)[0] for r in extras["optional-dependencies"]["clients"]}
    provided = set(clients)
    for name in clients:
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" not in requirement:
                provided.add(re.split(r"[<>=!~;\[ (]", requirement)[0])
    normal = {n.lower().replace("_", "-") for n in provided}
    [installs] = [b.text.strip() for b in section("Calling it", "sh") if "pip install" in b.text]
    assert installs == ".venv/bin/pip install -q -e '.[clients]'"
    distributions = importlib.metadata.packages_distributions()
    for block in section("Calling it", "python"):
        for node in ast.walk(ast.parse(block.text)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
                for module in names:
                    top = module.split(".")[0]
                    owners = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
                    assert owners & normal, f"{top} is not installed by the clients extra"
