"""Interoperable import (Glance 33's, measured: ../shared/spec/glance-data-behaviour.md,
section 4): what a `POST /v2/images/{id}/import` body asks for, which web-download URIs pass
the operator's allow-list, which images may be imported now, and the `os_glance_*` properties
an import leaves on its image.

Pure rules: the service (`service/image_import.py`) runs the import."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from openims import errors
from openims.domain import image_files
from openims.domain.access import Caller, ImageAccess

GLANCE_DIRECT = "glance-direct"
WEB_DOWNLOAD = "web-download"
# Every method Glance knows; those OpenIMS does not offer are "unknown", as Glance names a
# method its operator did not enable.
METHODS = (GLANCE_DIRECT, WEB_DOWNLOAD, "copy-image", "glance-download")

IMPORT_TASK = "os_glance_import_task"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED_IMPORT = "os_glance_failed_import"

# Most 3xx hops a web-download follows, each re-checked against the allow-list.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """A parsed import body: the method, the URI of a web-download, the stores asked for."""

    method: str
    uri: str | None
    stores: tuple[str, ...] | None


def offered(web_download_allow: list[str]) -> tuple[str, ...]:
    """The methods this server offers: glance-direct always, web-download only when the
    operator allowed some URL prefix."""
    return (GLANCE_DIRECT, WEB_DOWNLOAD) if web_download_allow else (GLANCE_DIRECT,)


def parse_request(
    body: dict[str, Any], *, methods: tuple[str, ...], allow: list[str]
) -> ImportRequest:
    """The import body as Glance reads it (its order of checks and words), with a web-download
    URI filtered here, before anything is fetched: a refused URI is a 400, never a request."""
    method = body.get("method")
    if method is None:
        raise errors.IMPORT_METHOD_MISSING()
    if not isinstance(method, dict):
        raise errors.IMPORT_BAD_FIELD(name="method", reason="must be an object")
    name = method.get("name")
    if name is None:
        raise errors.IMPORT_METHOD_NAME_MISSING()
    if not isinstance(name, str) or name not in methods:
        raise errors.IMPORT_METHOD_UNKNOWN(name=_shown(name))
    for flag in ("all_stores", "all_stores_must_succeed"):
        if flag in body and not isinstance(body[flag], bool):
            raise errors.IMPORT_BAD_FIELD(name=flag, reason="must be a boolean value")
    stores = body.get("stores")
    if stores is not None and (
        not isinstance(stores, list) or not all(isinstance(s, str) for s in stores)
    ):
        raise errors.IMPORT_BAD_FIELD(name="stores", reason="must be a list of store ids")
    uri = None
    if name == WEB_DOWNLOAD:
        uri = check_uri(method.get("uri"), allow)
    return ImportRequest(name, uri, None if stores is None else tuple(stores))


def check_stores(request: ImportRequest, store_id: str) -> None:
    """Only this server's one store may be named (409, as Glance answers an unknown one)."""
    for store in request.stores or ():
        if store != store_id:
            raise errors.IMPORT_STORE_NOT_FOUND(store=_shown(store))


def _shown(value: object) -> str:
    """A client's value in an error message: bounded, on one line."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 200 else text[:200] + "…"


# --- the web-download allow-list ------------------------------------------------------------
_DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)")


def check_uri(uri: object, allow: list[str]) -> str:
    """`uri` if a web-download may fetch it: an http or https URL (nothing else: no file:,
    ftp:, data:…) that starts with one of the operator's prefixes (`config.check_url_prefix`
    forms) once its scheme and host are in lower case. Refused too, whatever the list says:
    user info (`http://allowed@elsewhere/`, and credentials that would end up in logs), a
    backslash, whitespace or control characters, and `.`/`..` path segments (plain or
    percent-encoded), which could climb out of an allowed path once resolved."""
    if not isinstance(uri, str) or not allow:
        raise errors.IMPORT_URI_FILTERED(uri=_shown(uri) if uri is not None else "None")
    refused = errors.IMPORT_URI_FILTERED(uri=_shown(uri))
    if len(uri) > 2048 or any(c.isspace() or not c.isprintable() or c == "\\" for c in uri):
        raise refused
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        raise refused from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise refused
    if _DOT_SEGMENT.search(unquote(parts.path)):
        raise refused
    rest = uri[len(parts.scheme) + 3 + len(parts.netloc) :]
    normal = f"{scheme}://{parts.netloc.lower()}{rest or '/'}"
    if not any(normal.startswith(prefix) for prefix in allow):
        raise refused
    return uri


def redirect_target(status: int, location: str | None) -> bool:
    """Whether a response is a redirect a web-download may follow (after re-checking it)."""
    return status in _REDIRECTS and bool(location)


def safe_for_log(uri: str) -> str:
    """A URI as the log may show it: scheme, host and path, without a query (which may hold
    a signed URL's secret)."""
    try:
        parts = urlsplit(uri)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a malformed URI)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


# --- who may import what, and when ------------------------------------------------------------
def admit_stage(caller: Caller, image: ImageAccess, doc: dict[str, Any]) -> None:
    """Staging is an upload to the staging area: the same rules, towards `uploading`."""
    image_files.admit_upload(caller, image, doc, target="uploading", action="modify_image")


def admit_import(
    caller: Caller, image: ImageAccess, doc: dict[str, Any], request: ImportRequest
) -> None:
    """Refuse an import the caller may not start on this image now (Glance's checks: 403 for
    whoever is not the owner or an admin, then the status the method needs)."""
    if caller.read_only or not (caller.is_admin or image.owner == caller.project_id):
        raise errors.FORBIDDEN_ACTION(action="import_image")
    status = doc.get("status")
    if status == "active":
        raise errors.IMPORT_TARGET_STATUS(status=status)
    if request.method == GLANCE_DIRECT and status != "uploading":
        raise errors.IMPORT_NOT_STAGED()
    if request.method == WEB_DOWNLOAD and status != "queued":
        raise errors.IMPORT_NOT_QUEUED(method=request.method)
    if not doc.get("disk_format") or not doc.get("container_format"):
        raise errors.FORMATS_REQUIRED()


# --- the properties an import leaves ---------------------------------------------------------
def begin(doc: dict[str, Any], *, task: str, store: str) -> dict[str, Any]:
    """The image while an import runs: `importing`, naming its task and its store."""
    new = dict(doc)
    new.update({"status": "importing", IMPORT_TASK: task, IMPORTING_TO: store, FAILED_IMPORT: ""})
    return new


def end(doc: dict[str, Any], *, failed_store: str | None) -> dict[str, Any]:
    """The image once its import ended: the task gone, `os_glance_importing_to_stores` and
    `os_glance_failed_import` left as Glance leaves them (empty strings after a success, the
    store's id in the latter after a failure). An image no import ran on is `doc` itself."""
    if IMPORT_TASK not in doc:
        return doc
    new = {k: v for k, v in doc.items() if k != IMPORT_TASK}
    new[IMPORTING_TO] = ""
    new[FAILED_IMPORT] = failed_store or ""
    return new


def importing(doc: dict[str, Any]) -> bool:
    return IMPORT_TASK in doc
