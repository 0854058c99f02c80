"""The credentials file and the authenticator that checks requests against it.

The file is TOML with `[[credential]]` entries (AK/SK pairs) and `[[token]]` entries (static
tokens), each bound to a project and roles. It holds secrets, so the server refuses to start
when anyone but its owner may read it.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import secrets
import stat
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request

from openims import errors
from openims.auth import signature
from openims.auth.caller import BodyReader
from openims.domain.access import ROLES, Caller


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
    for role in roles:
        if role.lower() not in ROLES:
            raise CredentialsFileError(f"{where}: unknown role {role!r} ({known_roles()})")
    return frozenset(r.lower() for r in roles)


def known_roles() -> str:
    return "known roles: " + ", ".join(ROLES)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise CredentialsFileError(f"{where}: {key} must be a non-empty string")
    return value


def check_permissions(path: Path) -> None:
    _check_mode(path.stat().st_mode, path)


def _check_mode(mode: int, path: Path) -> None:
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsFileError(
            f"{path} is readable or writable by others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )


def load(path: Path) -> tuple[list[Credential], list[Token]]:
    try:
        check_permissions(path)
        text = path.read_bytes()
    except FileNotFoundError:
        raise CredentialsFileError(
            f"no credentials file at {path}: create one with `openims credentials add "
            f"--project-id <project>`, or run with --no-auth"
        ) from None
    except OSError as exc:
        raise CredentialsFileError(f"cannot read {path}: {exc.strerror}") from None
    return _parse(text, path)


def _parse(raw: bytes, path: Path) -> tuple[list[Credential], list[Token]]:
    """The entries of the file's bytes; CredentialsFileError names what is wrong (never a
    value: the file holds secrets)."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CredentialsFileError(f"{path} is not UTF-8 text") from None
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


_AK_ALPHABET = string.ascii_uppercase + string.digits
_SK_ALPHABET = string.ascii_letters + string.digits


def _toml_string(value: str) -> str:
    """A TOML basic string. JSON's escaping (ASCII only) is a subset of TOML's."""
    return json.dumps(value, ensure_ascii=True)


def _toml_roles(roles: frozenset[str]) -> str:
    return "[" + ", ".join(_toml_string(r) for r in sorted(roles)) + "]"


def check_project_id(project_id: str) -> str:
    if not project_id or len(project_id) > 255 or not project_id.isprintable():
        raise CredentialsFileError("the project ID must be 1-255 printable characters")
    return project_id


def _append(path: Path, entry: str) -> None:
    """Append one TOML table to the file, creating it readable by its owner only.

    Everything is checked before a byte is written: the permissions of the file as opened
    (so the file checked is the file written), and that the file with the new entry still
    loads. A refused command therefore leaves the file exactly as it was: no secret lands
    in a file the server would refuse, or that others may read, without the operator ever
    having seen it printed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CredentialsFileError(f"cannot write {path}: {exc.strerror}") from None
    try:
        _check_mode(os.fstat(fd).st_mode, path)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        existing = b"".join(chunks)
        added = _separator(existing) + entry.encode("utf-8")
        _parse(existing + added, path)
        while added:  # O_APPEND: every write goes to the end
            added = added[os.write(fd, added) :]
        os.fsync(fd)  # the secret is printed next: it must be in the file by then
    except OSError as exc:
        raise CredentialsFileError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _separator(existing: bytes) -> bytes:
    """What goes before a new entry: entries one blank line apart, none before the first."""
    if not existing.strip() or existing.endswith(b"\n\n"):
        return b""
    return b"\n" if existing.endswith(b"\n") else b"\n\n"


def add_credential(path: Path, project_id: str, roles: frozenset[str]) -> Credential:
    """A new AK/SK pair for `project_id`, appended to the file. Keys are shaped like Huawei
    Cloud's (a 20-character access key, a 40-character secret key)."""
    credential = Credential(
        access_key="".join(secrets.choice(_AK_ALPHABET) for _ in range(20)),
        secret_key="".join(secrets.choice(_SK_ALPHABET) for _ in range(40)),
        project_id=check_project_id(project_id),
        roles=roles,
    )
    _append(
        path,
        "[[credential]]\n"
        f"access_key = {_toml_string(credential.access_key)}\n"
        f"secret_key = {_toml_string(credential.secret_key)}\n"
        f"project_id = {_toml_string(credential.project_id)}\n"
        f"roles = {_toml_roles(roles)}\n",
    )
    return credential


def add_token(path: Path, project_id: str, roles: frozenset[str]) -> Token:
    """A new random static token for `project_id`, appended to the file."""
    token = Token(secrets.token_hex(24), check_project_id(project_id), roles)
    _append(
        path,
        "[[token]]\n"
        f"token = {_toml_string(token.token)}\n"
        f"project_id = {_toml_string(token.project_id)}\n"
        f"roles = {_toml_roles(roles)}\n",
    )
    return token


TEMPORARY_CREDENTIAL_HEADER = "x-security-token"  # the SDK sends it with a security token


class CredentialsAuthenticator:
    """Authenticates a request against the credentials file, the two ways Huawei Cloud's
    clients do: an `SDK-HMAC-SHA256` AK/SK signature (`Authorization` + `X-Sdk-Date`), or a
    static token in `X-Auth-Token`. The caller's project and roles come from the matching
    entry; an `X-Project-Id` header, when sent, must name that same project.

    Temporary credentials (`X-Security-Token`) are not supported: a request carrying one is
    refused. Every failure is the same 401, so a client cannot tell an unknown key from a wrong
    signature, a stale date or a foreign project. Secrets are compared in constant time."""

    def __init__(
        self,
        credentials: list[Credential],
        tokens: list[Token],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.by_access_key = {c.access_key: c for c in credentials}
        self.tokens = tokens
        self.clock = clock
        # signatures for unknown access keys are checked against this, so they cost the same
        self._decoy_secret = secrets.token_urlsafe(30)

    def __repr__(self) -> str:
        keys, tokens = len(self.by_access_key), len(self.tokens)
        return f"CredentialsAuthenticator({keys} keys, {tokens} tokens)"

    @classmethod
    def from_file(cls, path: Path) -> CredentialsAuthenticator:
        return cls(*load(path))

    def _token(self, presented: str) -> Token | None:
        found = None
        wanted = presented.encode("utf-8", "replace")
        for candidate in self.tokens:  # compare with every token: constant time per token
            if hmac.compare_digest(candidate.token.encode(), wanted):
                found = candidate
        return found

    async def _signed(
        self, request: Request, authorization: str, read_body: BodyReader
    ) -> Caller | None:
        parsed = signature.parse_authorization(authorization)
        if parsed is None:
            return None
        credential = self.by_access_key.get(parsed.access_key)
        received = signed_request(request, None)
        if signature.body_needed(received.headers):
            received = dataclasses.replace(received, body=await read_body())
        secret_key = credential.secret_key if credential else self._decoy_secret
        valid = signature.verify(received, parsed, secret_key, self.clock())
        if credential is None or not valid:
            return None
        return Caller(credential.project_id, credential.roles)

    def sign_in(
        self, *, token: str = "", access_key: str = "", secret_key: str = ""
    ) -> Caller | None:
        """The caller a person signing in to the console names: a static token, or an AK/SK
        pair given whole (the secret key itself, compared in constant time, as a signature
        would prove it). None for anything that does not match; which part did not is not
        told."""
        if token:
            found = self._token(token)
            return None if found is None else Caller(found.project_id, found.roles)
        if not access_key or not secret_key:
            return None
        credential = self.by_access_key.get(access_key)
        expected = credential.secret_key if credential else self._decoy_secret
        matches = hmac.compare_digest(expected.encode(), secret_key.encode("utf-8", "replace"))
        if credential is None or not matches:
            return None
        return Caller(credential.project_id, credential.roles)

    async def authenticate(self, request: Request, read_body: BodyReader) -> Caller:
        if TEMPORARY_CREDENTIAL_HEADER in request.headers:
            # temporary credentials (an AK/SK pair with a security token from IAM): OpenIMS
            # has none, and a permanent key sent with one is not what the client meant to use
            raise errors.UNAUTHORIZED()
        authorization = request.headers.get("authorization", "")
        presented = request.headers.get("x-auth-token")
        caller: Caller | None = None
        if authorization.lstrip().startswith(signature.ALGORITHM):
            caller = await self._signed(request, authorization, read_body)
        elif presented:
            token = self._token(presented)
            if token is not None:
                caller = Caller(token.project_id, token.roles)
        if caller is None:
            raise errors.UNAUTHORIZED()
        if any(p != caller.project_id for p in request.headers.getlist("x-project-id")):
            raise errors.UNAUTHORIZED()
        return caller


def signed_request(request: Request, body: bytes | None) -> signature.SignedRequest:
    """What the signature of `request` covers, read from the ASGI scope as received."""
    headers: dict[str, str] = {}
    repeated: set[str] = set()
    for raw_name, raw_value in request.scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in headers:
            repeated.add(name)
        headers[name] = raw_value.decode("utf-8", "replace").strip()
    for name in repeated:
        del headers[name]
    return signature.SignedRequest(
        method=request.method,
        path=request.scope["path"],
        query=tuple(request.query_params.multi_items()),
        headers=headers,
        repeated=frozenset(repeated),
        body=body,
    )
