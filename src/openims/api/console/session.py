"""The console's sessions: who a browser is, kept in a signed cookie, and the checks every
state-changing request passes (CSRF token, origin).

The cookie holds the session's project and roles, a random session id and its expiry, signed
with HMAC-SHA256 under `Settings.console_secret`; never a token or a secret key (those are
checked once, at sign-in, and forgotten). It is `HttpOnly` (no script reads it) and
`SameSite=Strict` (no other site's page sends it). Every visitor gets one: before signing in
it names no project, and its id still anchors the CSRF token of the sign-in form. Signing in
issues a new id (no fixation); signing out records the id as signed out in the database
(`service.console.SignOuts`, which every process looks at before it honours a signed-in
cookie) and clears the cookie. The CSRF token of a session is an HMAC of its id, so it needs
no storage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from openims.domain.access import Caller

COOKIE = "openims_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
ANONYMOUS_SECONDS = 24 * 3600  # a session that has not signed in (it holds only a CSRF anchor)


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    expires: int
    project_id: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def caller(self) -> Caller | None:
        if self.project_id is None:
            return None
        return Caller(self.project_id, frozenset(self.roles))


class Sessions:
    """Issues and reads session cookies under one key. Whether a signed-in session was
    signed out is the database's to say (`service.console.SignOuts`), not the cookie's."""

    def __init__(self, secret: str, *, hours: float, secure: bool = False) -> None:
        self._key = hashlib.sha256(b"openims-console-session:" + secret.encode()).digest()
        self._csrf_key = hashlib.sha256(b"openims-console-csrf:" + secret.encode()).digest()
        self.seconds = int(hours * 3600)
        self.secure = secure

    def new(self, caller: Caller | None) -> Session:
        now = int(time.time())
        if caller is None:
            return Session(secrets.token_urlsafe(18), now + ANONYMOUS_SECONDS)
        return Session(
            secrets.token_urlsafe(18),
            now + self.seconds,
            caller.project_id,
            tuple(sorted(caller.roles)),
        )

    def encode(self, session: Session) -> str:
        fields: dict[str, Any] = {"s": session.sid, "e": session.expires}
        if session.project_id is not None:
            fields["p"] = session.project_id
            fields["r"] = list(session.roles)
        payload = base64.urlsafe_b64encode(orjson.dumps(fields)).rstrip(b"=")
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return (payload + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()

    def decode(self, value: str | None) -> Session | None:
        """The session a cookie value holds, or None if it is absent, forged or expired."""
        if not value or len(value) > 4096:
            return None
        payload, _, mac = value.encode("ascii", "replace").partition(b".")
        wanted = base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest())
        if not hmac.compare_digest(wanted.rstrip(b"="), mac):
            return None
        try:
            fields = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            session = Session(
                str(fields["s"]),
                int(fields["e"]),
                None if fields.get("p") is None else str(fields["p"]),
                tuple(str(r) for r in fields.get("r", ())),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= time.time():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            self.csrf_token(session).encode(), presented.encode("utf-8", "replace")
        )

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.encode(session),
            max_age=max(0, session.expires - int(time.time())),
            path="/console",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path="/console", httponly=True, samesite="strict", secure=self.secure
        )


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this server: its `Origin` (or,
    without one, its `Referer`) names this host, and `Sec-Fetch-Site` (when sent) does not say
    another site. A request with none of them (not a browser's) is left to the CSRF token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
