"""The `SDK-HMAC-SHA256` AK/SK request signature, verified the way the official Huawei Cloud
SDKs compute it (`huaweicloudsdkcore.signer.Signer`), so a client configured with
`BasicCredentials(ak, sk, project_id)` works with nothing changed but its endpoint.

The signer builds a canonical request from what it is about to send::

    METHOD
    canonical URI       the path decoded once, each segment re-encoded, a trailing "/" added
    canonical query     the (name, value) pairs decoded, sorted, re-encoded, joined with "&"
    canonical headers   "name:value" for each signed header (lower-case name, trimmed value)
    signed headers      the lower-case names joined with ";"
    payload hash        hex SHA-256 of the body; for an empty body the hash of b"";
                        otherwise the literal `X-Sdk-Content-Sha256` value when it is sent

and signs `SDK-HMAC-SHA256\\n<X-Sdk-Date>\\n<hex SHA-256 of the canonical request>` with
HMAC-SHA256 under the secret key. The server rebuilds the same text from what it received, so
any change to the method, path, query, a signed header, the date or a hashed body breaks the
signature.

This module is pure: it knows nothing of HTTP frameworks. `auth.credentials` feeds it the parts
of a request and decides what a failure means (always the same 401, whatever failed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "x-sdk-date"
CONTENT_SHA256_HEADER = "x-sdk-content-sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Headers a valid signature must cover: the date is what the replay window is measured on,
# and the host binds the request to this server.
REQUIRED_SIGNED_HEADERS = frozenset({"host", DATE_HEADER})

_AUTHORIZATION = re.compile(
    r"SDK-HMAC-SHA256\s+"
    r"Access=(?P<access>[^\s,]+)\s*,\s*"
    r"SignedHeaders=(?P<headers>[^\s,]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9A-Fa-f]{64})\s*"
)
_DATE = re.compile(r"\d{8}T\d{6}Z")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^`|~0-9a-z-]+")  # an RFC 9110 token, lower-case
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str

    def __repr__(self) -> str:  # the signature is a credential for 15 minutes: never print it
        return f"Authorization(access_key={self.access_key!r})"


def parse_authorization(value: str) -> Authorization | None:
    """The signature fields of an `Authorization` header, or None when it is not a
    well-formed `SDK-HMAC-SHA256` value (other algorithms included)."""
    found = _AUTHORIZATION.fullmatch(value.strip())
    if found is None:
        return None
    names = found["headers"].split(";")
    if any(not _HEADER_NAME.fullmatch(n) for n in names) or len(set(names)) != len(names):
        return None
    return Authorization(found["access"], tuple(names), found["signature"].lower())


def parse_date(value: str) -> datetime | None:
    """`X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`, UTC) as an aware datetime, or None if malformed."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def date_is_fresh(signed_at: datetime, now: datetime) -> bool:
    return abs(now - signed_at) <= MAX_CLOCK_SKEW


def _encode(text: str) -> str:
    """The SDK's encoding: everything but unreserved characters percent-encoded (UTF-8)."""
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """The canonical form of an already-decoded request path (ASGI's `scope["path"]`)."""
    uri = "/".join(_encode(segment) for segment in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical form of the decoded query pairs: sorted by name, then value."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def canonical_headers(headers: Mapping[str, str], signed: Sequence[str]) -> str:
    return "\n".join(f"{name}:{headers[name]}" for name in signed) + "\n"


def unsigned_payload_allowed(content_type: str | None) -> bool:
    """UNSIGNED-PAYLOAD is accepted exactly where the official SDK sends it: for bodies whose
    media type is neither JSON nor BSON (the JSON-patch of `PATCH /v2/images/{id}`, uploads).
    A JSON body (create, members) must always be hashed, so it cannot be swapped."""
    if not content_type:
        return False
    media = content_type.strip().lower()
    return not media.startswith(("application/json", "application/bson"))


def body_needed(headers: Mapping[str, str]) -> bool:
    """Whether the signature of a request with these (lower-case) headers covers its body. Not
    when the signer declared UNSIGNED-PAYLOAD where that is allowed and the body is not empty:
    an image upload is then authenticated from its head alone, and streamed, never held."""
    declared = headers.get(CONTENT_SHA256_HEADER)
    if declared != UNSIGNED_PAYLOAD or not unsigned_payload_allowed(headers.get("content-type")):
        return True
    return headers.get("content-length", "") in ("", "0") and "transfer-encoding" not in headers


def payload_hash(body: bytes | None, declared: str | None, content_type: str | None) -> str | None:
    """The payload line the signer wrote, or None when the request may not be accepted.

    As the SDK computes it: an empty body always hashes as b""; otherwise the declared
    `X-Sdk-Content-Sha256` value when one is sent, else the body's own hash. A declared value
    other than UNSIGNED-PAYLOAD must be the body's real hash, since the signature covers only
    the declaration. `body` is None when it was not read (`body_needed`)."""
    if body is None:
        unsigned = declared == UNSIGNED_PAYLOAD and unsigned_payload_allowed(content_type)
        return declared if unsigned else None
    if not body:
        return EMPTY_SHA256
    actual = hashlib.sha256(body).hexdigest()
    if declared is None:
        return actual
    if declared == UNSIGNED_PAYLOAD:
        return declared if unsigned_payload_allowed(content_type) else None
    if _HEX_SHA256.fullmatch(declared) and hmac.compare_digest(actual, declared):
        return declared
    return None


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed: Sequence[str],
    payload: str,
) -> str:
    return "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers(headers, signed),
            ";".join(signed),
            payload,
        )
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, sdk_date: str, canonical: str) -> str:
    """Hex HMAC-SHA256 of the string to sign under the secret key."""
    text = string_to_sign(sdk_date, canonical).encode("utf-8")
    return hmac.new(secret_key.encode("utf-8"), text, hashlib.sha256).hexdigest()


def signature_matches(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), presented.encode("ascii"))


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of a received request the signature covers. `headers` maps lower-case names
    to values decoded as UTF-8 and trimmed (as the signer trims them); a name sent more than
    once is absent from it and listed in `repeated` instead, so a signature over it never
    verifies."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    repeated: frozenset[str]
    body: bytes | None  # None: not read, the signer declared UNSIGNED-PAYLOAD (`body_needed`)

    def __repr__(self) -> str:
        return f"SignedRequest({self.method} {self.path})"


def verify(
    request: SignedRequest, authorization: Authorization, secret_key: str, now: datetime
) -> bool:
    """True if `request` carries a valid, fresh signature by the holder of `secret_key`.

    Deliberately a single yes/no: the caller answers every failure the same way."""
    signed = authorization.signed_headers
    if not REQUIRED_SIGNED_HEADERS.issubset(signed):
        return False
    if any(name in request.repeated or name not in request.headers for name in signed):
        return False
    sdk_date = request.headers.get(DATE_HEADER, "")
    signed_at = parse_date(sdk_date)
    if signed_at is None or not date_is_fresh(signed_at, now):
        return False
    payload = payload_hash(
        request.body,
        request.headers.get(CONTENT_SHA256_HEADER),
        request.headers.get("content-type"),
    )
    if payload is None:
        return False
    canonical = canonical_request(
        request.method, request.path, request.query, request.headers, signed, payload
    )
    return signature_matches(signature(secret_key, sdk_date, canonical), authorization.signature)
