"""The credentials file and the authenticator that checks requests against it.

The file is TOML with `[[credential]]` entries (AK/SK pairs) and `[[token]]` entries (static
tokens), each bound to a project and roles. It holds secrets, so the server refuses to start
when anyone but its owner may read it.
"""

from __future__ import annotations

import hmac
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request

from openims.domain import errors
from openims.domain.access import Caller


class CredentialsFileError(Exception):
    """The credentials file is missing, unsafe or malformed."""


@dataclass(frozen=True, slots=True)
class Credential:
    access_key: str
    secret_key: str
    project_id: str
    roles: frozenset[str]

    def __repr__(self) -> str:  # never print the secret
        return f"Credential(access_key={self.access_key!r}, project_id={self.project_id!r})"


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    project_id: str
    roles: frozenset[str]

    def __repr__(self) -> str:
        return f"Token(project_id={self.project_id!r})"


def _roles(entry: dict[str, Any], where: str) -> frozenset[str]:
    roles = entry.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise CredentialsFileError(f"{where}: roles must be a list of strings")
    return frozenset(r.lower() for r in roles)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise CredentialsFileError(f"{where}: {key} must be a non-empty string")
    return value


def check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsFileError(
            f"{path} is readable or writable by others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )


def load(path: Path) -> tuple[list[Credential], list[Token]]:
    try:
        check_permissions(path)
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CredentialsFileError(
            f"no credentials file at {path}: create one with `openims credentials add "
            f"--project-id <project>`, or run with --no-auth"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsFileError(f"{path} is not valid TOML: {exc}") from None
    credentials = []
    for i, entry in enumerate(data.get("credential", []), start=1):
        where = f"{path}: credential {i}"
        credentials.append(
            Credential(
                _text(entry, "access_key", where),
                _text(entry, "secret_key", where),
                _text(entry, "project_id", where),
                _roles(entry, where),
            )
        )
    tokens = []
    for i, entry in enumerate(data.get("token", []), start=1):
        where = f"{path}: token {i}"
        tokens.append(
            Token(
                _text(entry, "token", where),
                _text(entry, "project_id", where),
                _roles(entry, where),
            )
        )
    return credentials, tokens


class CredentialsAuthenticator:
    """Checks `X-Auth-Token` against the file's static tokens."""

    def __init__(self, credentials: list[Credential], tokens: list[Token]) -> None:
        self.by_access_key = {c.access_key: c for c in credentials}
        self.tokens = tokens

    @classmethod
    def from_file(cls, path: Path) -> CredentialsAuthenticator:
        return cls(*load(path))

    def _token(self, presented: str) -> Token | None:
        found = None
        for candidate in self.tokens:  # compare with every token: constant time per token
            if hmac.compare_digest(candidate.token.encode(), presented.encode()):
                found = candidate
        return found

    async def authenticate(self, request: Request) -> Caller:
        presented = request.headers.get("x-auth-token")
        if presented:
            token = self._token(presented)
            if token is not None:
                return Caller(token.project_id, token.roles)
        raise errors.UNAUTHORIZED()
