"""The console's routes: pages rendered on the server from the package's templates, and the
forms they post. Like every route, each reads its request, makes one service call and renders
the answer; the caller comes from the session cookie (`session`), never from a page, a URL or
API credentials.

Every state-changing request (a `POST` form, the upload's `PUT`) must carry the session's CSRF
token and come from a page of this server (`session.same_origin`): otherwise it is a 403 page
and nothing changes. A refused change re-renders its page with the service's own message next
to the field, with the service's status; an image the caller may not see is the 404 page, as
for one that does not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter
from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from openims import errors
from openims.api import deps
from openims.api.console import views
from openims.api.console.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    Sessions,
    same_origin,
)
from openims.api.http import body
from openims.api.routes import image_data
from openims.auth.caller import NO_AUTH_DEFAULT_PROJECT
from openims.auth.credentials import CredentialsAuthenticator
from openims.domain import documents, patch, registry
from openims.domain.access import MEMBER_STATUSES, ROLES, Caller
from openims.errors import ApiError

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
)
# the package's static files, read once: only these names are served, so no path from a
# request reaches the filesystem
STATIC = {
    name: ((HERE / "static" / name).read_bytes(), media_type)
    for name, media_type in (
        ("console.css", "text/css; charset=utf-8"),
        ("console.js", "text/javascript; charset=utf-8"),
    )
}
# pages load only this server's files, run no inline script and are never framed
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NO_AUTH_ROLES = ("member", *ROLES)
JOBS_SHOWN = 50  # the latest jobs of the project the jobs page lists
# the JSON Patch dialect the console's edits are written in: Glance's v2.1, so queued images
# may be renamed too; the rules and messages are those of `PATCH /v2/images/{id}`
PATCH_DIALECT = patch.GLANCE.dialect(patch.V21)


@dataclass
class Visit:
    """One request's session: who is asking, and the cookie to set if the session is new."""

    request: Request
    sessions: Sessions
    session: Session
    no_auth: bool
    fresh: bool = False
    cookies: list[Session] = field(default_factory=list)

    @property
    def caller(self) -> Caller | None:
        found = self.session.caller
        if found is None and self.no_auth:  # emulator mode: the API's default caller
            return Caller(NO_AUTH_DEFAULT_PROJECT, frozenset({"member"}))
        return found

    @property
    def csrf(self) -> str:
        return self.sessions.csrf_token(self.session)

    def page(self, template: str, status: int = 200, **values: Any) -> Response:
        caller = self.caller
        html = TEMPLATES.get_template(template).render(
            caller=caller,
            signed_in=self.session.caller is not None,
            no_auth=self.no_auth,
            csrf=self.csrf,
            csrf_field=CSRF_FIELD,
            **values,
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if self.fresh:
            self.sessions.set_cookie(response, self.session)
        return response


async def visit(request: Request) -> Visit:
    sessions = deps.console_sessions(request)
    no_auth = deps.settings(request).no_auth
    found = sessions.decode(request.cookies.get(COOKIE))
    if found is not None and found.project_id is not None:
        # signed out (through any process or replica): the cookie names nobody any more
        services = await deps.services(request)
        if await services.sign_outs.signed_out(found.sid):
            found = None
    if found is not None:
        v = Visit(request, sessions, found, no_auth)
    else:
        v = Visit(request, sessions, sessions.new(None), no_auth, fresh=True)
    if v.caller is not None:  # the access log names the project, as for an API request
        request.scope.setdefault("state", {})["caller"] = v.caller
    return v


async def form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (bounded like every body), the last value
    of each name."""
    raw = await body.read(request)
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def refused(v: Visit, message: str) -> Response:
    return v.page("error.html", status=403, title="Refused", message=message)


async def checked_form(v: Visit) -> dict[str, str] | Response:
    """The form of a state-changing request, or the 403 page when it is not this session's
    own (no or a wrong CSRF token, another origin)."""
    if not same_origin(v.request):
        return refused(v, "This form was sent from another site and was refused.")
    fields = await form(v.request)
    if not v.sessions.csrf_ok(v.session, fields.get(CSRF_FIELD)):
        return refused(
            v,
            "This form has expired or was not sent from this console. Reload the "
            "page and try again.",
        )
    return fields


def signed_in(v: Visit) -> Caller | Response:
    caller = v.caller
    if caller is None:
        back = v.request.url.path + (f"?{v.request.url.query}" if v.request.url.query else "")
        return v.redirect("/console/sign-in?next=" + quote(back, safe=""))
    return caller


def image_url(image_id: str, note: str = "") -> str:
    return f"/console/images/{quote(image_id, safe='')}" + (f"?done={note}" if note else "")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if value and value.startswith("/console/") and not value.startswith("/console//"):
        return value
    return "/console/images"


# --- static files, sign-in -------------------------------------------------------------------


@router.get("/console/static/{name}")
async def static(name: str) -> Response:
    found = STATIC.get(name)
    if found is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    content, media_type = found
    return Response(
        content,
        media_type=media_type,
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/console")
async def home(request: Request) -> Response:
    return (await visit(request)).redirect("/console/images")


@router.get("/console/sign-in")
async def sign_in_page(request: Request) -> Response:
    v = await visit(request)
    return v.page(
        "sign_in.html",
        title="Sign in",
        next=safe_next(request.query_params.get("next")),
        roles=NO_AUTH_ROLES,
        error=None,
    )


@router.post("/console/sign-in")
async def sign_in(request: Request) -> Response:
    v = await visit(request)
    fields = await checked_form(v)
    if isinstance(fields, Response):
        return fields
    caller: Caller | None
    if v.no_auth:
        project = fields.get("project_id", "").strip() or NO_AUTH_DEFAULT_PROJECT
        role = fields.get("role", "member")
        valid = len(project) <= 64 and project.isprintable() and role in NO_AUTH_ROLES
        caller = Caller(project, frozenset({role})) if valid else None
    else:
        checker = deps.authenticator(request)
        caller = None
        if isinstance(checker, CredentialsAuthenticator):
            caller = checker.sign_in(
                token=fields.get("token", "").strip(),
                access_key=fields.get("access_key", "").strip(),
                secret_key=fields.get("secret_key", "").strip(),
            )
    if caller is None:
        return v.page(
            "sign_in.html",
            status=401 if not v.no_auth else 400,
            title="Sign in",
            next=safe_next(fields.get("next")),
            roles=NO_AUTH_ROLES,
            error="Those credentials are not valid."
            if not v.no_auth
            else "Name a project (at most 64 printable characters) and a role.",
        )
    # a new session id: whatever id the browser had before signing in is not the session,
    # and a session signed in before (as another project) ends
    await _sign_out(v)
    v.session, v.fresh = v.sessions.new(caller), True
    return v.redirect(safe_next(fields.get("next")))


async def _sign_out(v: Visit) -> None:
    """End the visit's session everywhere, if it is signed in (an anonymous one names no one
    and only anchors the sign-in form's CSRF token: it simply gets no successor)."""
    if v.session.project_id is not None:
        services = await deps.services(v.request)
        await services.sign_outs.sign_out(v.session.sid, v.session.expires)


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    v = await visit(request)
    fields = await checked_form(v)
    if isinstance(fields, Response):
        return fields
    await _sign_out(v)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    v.sessions.clear_cookie(response)
    return response


# --- the image list --------------------------------------------------------------------------


@router.get("/console/images")
async def image_list(request: Request) -> Response:
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    view = views.ListView.from_query(request.query_params.multi_items())
    services = await deps.services(request)
    error = None
    rows: list[views.Row] = []
    status = 200
    try:
        docs = await services.listing.ims(caller, view.ims_params(caller), view.order())
        rows = [views.row(d) for d in docs]
    except ApiError as err:
        error, status = err.message, err.status
    next_query = view.query(marker=rows[-1].id) if len(rows) == view.limit else None
    return v.page(
        "list.html",
        status=status,
        title="Images",
        view=view,
        rows=rows,
        error=error,
        next_query=next_query,
        filters=views.FILTERS,
        columns=views.COLUMNS,
        tabs=views.TABS,
        member_statuses=MEMBER_STATUSES,
        page_sizes=views.PAGE_SIZES,
    )


# --- one image -------------------------------------------------------------------------------


async def image_page(
    v: Visit,
    caller: Caller,
    image_id: str,
    *,
    status: int = 200,
    errors_at: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    services = await deps.services(v.request)
    try:
        doc = documents.parse(await services.images.show(caller, image_id))
        members = await services.sharing.list(caller, image_id)
    except ApiError as err:
        return not_found(v) if err.status == 404 else error_page(v, err)
    owns = caller.is_admin or doc.get("owner") == caller.project_id
    mine = next((m for m in members if m.member_id == caller.project_id), None)
    return v.page(
        "image.html",
        status=status,
        title=str(doc.get("name") or doc["id"]),
        doc=doc,
        image_url=image_url(str(doc["id"])),
        attributes=views.attributes(doc),
        custom=sorted(documents.custom_properties(doc).items()),
        tags=doc.get("tags") or [],
        members=members,
        my_membership=mine,
        owns=owns and not caller.read_only,
        badge=views.BADGES.get(str(doc.get("status")), "off"),
        size=views.human_size(views.image_size(doc)),
        errors=errors_at or {},
        values=values or {},
        done=v.request.query_params.get("done", ""),
        disk_formats=registry.DISK_FORMATS,
    )


def not_found(v: Visit) -> Response:
    return v.page(
        "error.html",
        status=404,
        title="Not found",
        message="There is no such image, or it is not visible to your project.",
    )


def error_page(v: Visit, err: ApiError) -> Response:
    return v.page("error.html", status=err.status, title="Refused", message=err.message)


@router.get("/console/images/{image_id}")
async def show_image(image_id: str, request: Request) -> Response:
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    return await image_page(v, caller, image_id)


Change = Callable[[Caller, dict[str, str]], Awaitable[str]]


async def change(request: Request, image_id: str, field_name: str, act: Change) -> Response:
    """A form that changes an image: checked, then `act` (one service call) — on success back
    to the image page (POST/redirect/GET), on a refusal the page with the message at
    `field_name`, in the service's status."""
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    fields = await checked_form(v)
    if isinstance(fields, Response):
        return fields
    try:
        note = await act(caller, fields)
    except ApiError as err:
        if err.status == 404 and err.spec is errors.IMAGE_NOT_FOUND:
            return not_found(v)
        return await image_page(
            v,
            caller,
            image_id,
            status=err.status,
            errors_at={field_name: err.message},
            values=fields,
        )
    if note == "deleted":
        return v.redirect("/console/images?tab=private")
    return v.redirect(image_url(image_id, note))


def _patch(operations: list[dict[str, Any]], max_operations: int) -> patch.Patch:
    return patch.parse(patch.GLANCE, PATCH_DIALECT, operations, max_operations=max_operations)


@router.post("/console/images/{image_id}/edit")
async def edit_image(image_id: str, request: Request) -> Response:
    services = await deps.services(request)
    limit = deps.settings(request).max_patch_operations

    async def act(caller: Caller, fields: dict[str, str]) -> str:
        operations: list[dict[str, Any]] = [
            {"op": "replace", "path": "/name", "value": fields.get("name", "")}
        ]
        description = fields.get("description", "")
        operations.append({"op": "add", "path": "/__description", "value": description})
        await services.images.update(caller, image_id, _patch(operations, limit))
        return "saved"

    return await change(request, image_id, "name", act)


@router.post("/console/images/{image_id}/properties")
async def set_property(image_id: str, request: Request) -> Response:
    services = await deps.services(request)
    limit = deps.settings(request).max_patch_operations

    async def act(caller: Caller, fields: dict[str, str]) -> str:
        key = fields.get("key", "").strip()
        path = "/" + key.replace("~", "~0").replace("/", "~1")
        if fields.get("action") == "remove":
            operation: dict[str, Any] = {"op": "remove", "path": path}
        else:
            operation = {"op": "add", "path": path, "value": fields.get("value", "")}
        await services.images.update(caller, image_id, _patch([operation], limit))
        return "property"

    return await change(request, image_id, "property", act)


@router.post("/console/images/{image_id}/tags")
async def change_tag(image_id: str, request: Request) -> Response:
    services = await deps.services(request)

    async def act(caller: Caller, fields: dict[str, str]) -> str:
        tag = fields.get("tag", "")
        if fields.get("action") == "remove":
            await services.images.remove_tag(caller, image_id, tag)
        else:
            await services.images.add_tag(caller, image_id, tag.strip())
        return "tags"

    return await change(request, image_id, "tag", act)


@router.post("/console/images/{image_id}/members")
async def change_member(image_id: str, request: Request) -> Response:
    services = await deps.services(request)

    async def act(caller: Caller, fields: dict[str, str]) -> str:
        member = fields.get("member_id", "").strip()
        if fields.get("action") == "remove":
            await services.sharing.remove(caller, image_id, member)
        else:
            await services.sharing.add(caller, image_id, {"member": member})
        return "members"

    return await change(request, image_id, "member", act)


@router.post("/console/images/{image_id}/membership")
async def answer_share(image_id: str, request: Request) -> Response:
    """The recipient of a share accepts or rejects it (or puts it back to pending)."""
    services = await deps.services(request)

    async def act(caller: Caller, fields: dict[str, str]) -> str:
        status = fields.get("status", "")
        await services.sharing.set_status(caller, image_id, caller.project_id, {"status": status})
        return status if status in MEMBER_STATUSES else "membership"

    return await change(request, image_id, "membership", act)


@router.get("/console/images/{image_id}/delete")
async def confirm_delete(image_id: str, request: Request) -> Response:
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    services = await deps.services(request)
    try:
        doc = documents.parse(await services.images.show(caller, image_id))
    except ApiError as err:
        return not_found(v) if err.status == 404 else error_page(v, err)
    return v.page(
        "delete.html",
        title="Delete " + str(doc.get("name") or doc["id"]),
        doc=doc,
        image_url=image_url(str(doc["id"])),
    )


@router.post("/console/images/{image_id}/delete")
async def delete_image(image_id: str, request: Request) -> Response:
    services = await deps.services(request)

    async def act(caller: Caller, fields: dict[str, str]) -> str:
        await services.images.delete(caller, image_id)
        return "deleted"

    return await change(request, image_id, "delete", act)


# --- jobs ----------------------------------------------------------------------------------


@router.get("/console/jobs")
async def job_list(request: Request) -> Response:
    """The project's latest asynchronous IMS jobs (docs/jobs.md) with their status."""
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    services = await deps.services(request)
    found = await services.jobs.recent(caller, JOBS_SHOWN)
    return v.page("jobs.html", title="Jobs", jobs=[views.job_row(j) for j in found])


# --- data: create, upload, download ----------------------------------------------------------


@router.get("/console/create")
async def create_page(request: Request) -> Response:
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    return v.page(
        "create.html",
        title="Create an image",
        error=None,
        values={},
        disk_formats=registry.DISK_FORMATS,
        container_formats=registry.CONTAINER_FORMATS,
        os_types=registry.OS_TYPES,
    )


@router.post("/console/create")
async def create_image(request: Request) -> Response:
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    fields = await checked_form(v)
    if isinstance(fields, Response):
        return fields
    services = await deps.services(request)
    wanted: dict[str, Any] = {
        "name": fields.get("name", ""),
        "disk_format": fields.get("disk_format") or None,
        "container_format": fields.get("container_format") or None,
    }
    if fields.get("os_type"):
        wanted["__os_type"] = fields["os_type"]
    try:
        doc = await services.images.create(caller, {k: v for k, v in wanted.items() if v})
    except ApiError as err:
        return v.page(
            "create.html",
            status=err.status,
            title="Create an image",
            error=err.message,
            values=fields,
            disk_formats=registry.DISK_FORMATS,
            container_formats=registry.CONTAINER_FORMATS,
            os_types=registry.OS_TYPES,
        )
    return v.redirect(image_url(str(doc["id"]), "created"))


def _json_error(v: Visit, status: int, message: str) -> Response:
    return v.finish(JSONResponse({"message": message}, status_code=status))


@router.put("/console/images/{image_id}/file")
async def upload_file(image_id: str, request: Request) -> Response:
    """The page's upload: the browser sends the file as the body (`fetch`/XHR, with the CSRF
    token in `X-CSRF-Token`), and it streams into the same service as `PUT /v2/images/{id}/file`
    — never held whole, here or in the browser."""
    v = await visit(request)
    caller = v.caller
    if caller is None:
        return _json_error(v, 401, "Sign in first.")
    if not same_origin(request) or not v.sessions.csrf_ok(
        v.session, request.headers.get(CSRF_HEADER)
    ):
        return _json_error(v, 403, "This upload was not sent from this console's page.")
    services = await deps.services(request)
    try:
        image_data.require_octet_stream(request)
        await services.data.upload(
            caller, image_id, body.stream(request), declared_length=body.declared_length(request)
        )
    except ApiError as err:
        return _json_error(v, err.status, err.message)
    return v.finish(Response(status_code=204))


@router.get("/console/images/{image_id}/file")
async def download_file(image_id: str, request: Request) -> Response:
    v = await visit(request)
    caller = signed_in(v)
    if isinstance(caller, Response):
        return caller
    services = await deps.services(request)
    try:
        found = await services.data.download(caller, image_id, lambda size: None)
    except ApiError as err:
        return not_found(v) if err.status == 404 else error_page(v, err)
    filename = quote(image_id, safe="") + ".img"
    return image_data.send(
        found, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
