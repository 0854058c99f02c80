"""The web console's security and its pages over HTTP (the application in this process; the
browser tests in tests/browser drive the same pages in Chromium): sign-in and the session
cookie, CSRF and origin checks, escaping, tenant isolation, the upload and download."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from openims import errors
from openims.api.console.session import COOKIE
from openims.service.jobs import JobRun
from openims.store import sqlite_plans
from tests.support import catalogs
from tests.support.fixtures import server_fixture
from tests.support.jobs import register, submit, wait_for_job
from tests.support.servers import AuthServer, Server

auth_server = server_fixture("auth_server", auth=True, in_process=True)
server = server_fixture("server", in_process=True)

XSS_NAME = "<script>alert(1)</script>"
XSS_TAG = "<img src=x onerror=alert(1)>"


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:2000]
    return found.group(1)


def browser(server: Server) -> httpx.Client:
    """A client that keeps cookies and says where its forms come from, as a browser does."""
    client = server.open({"Origin": server.url, "Accept": "text/html"})
    client.follow_redirects = False
    return client


def sign_in(auth_server: AuthServer, who: str) -> httpx.Client:
    client = browser(auth_server.server)
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    done = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(form), "token": auth_server.tokens[who].token},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/console/images"
    return client


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(
    auth_server: AuthServer,
) -> None:
    anonymous = browser(auth_server.server)
    assert anonymous.get("/console/images").status_code == 303  # to the sign-in page
    page = anonymous.get("/console/sign-in")
    wrong = anonymous.post(
        "/console/sign-in", data={"csrf_token": csrf_of(page), "token": "not-a-token"}
    )
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    assert "not-a-token" not in wrong.text  # a secret is never put back in a page

    client = browser(auth_server.server)
    page = client.get("/console/sign-in")
    signed = client.post(
        "/console/sign-in",
        data={
            "csrf_token": csrf_of(page),
            "access_key": auth_server.keys["t1"].access_key,
            "secret_key": auth_server.keys["t1"].secret_key,
        },
    )
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert auth_server.keys["t1"].secret_key not in cookie
    listing = client.get("/console/images?tab=private")
    assert listing.status_code == 200
    assert auth_server.project("t1") in listing.text
    assert auth_server.keys["t1"].secret_key not in listing.text
    stolen = client.cookies[COOKIE]

    out = client.post("/console/sign-out", data={"csrf_token": csrf_of(listing)})
    assert out.status_code == 303
    assert client.get("/console/images").status_code == 303  # signed out
    # the old cookie, replayed, no longer names anyone
    replay = browser(auth_server.server)
    replay.cookies.set(COOKIE, stolen)
    assert replay.get("/console/images").status_code == 303


def test_names_and_tags_render_as_text(auth_server: AuthServer) -> None:
    owner = auth_server.project("t1")
    # Glance's name rules refuse `<` through the API; an imported catalog may hold any name
    doc = catalogs.private(owner, name=XSS_NAME, tags=[XSS_TAG], note=XSS_NAME)
    catalogs.load(auth_server.server.database_url, [doc])
    client = sign_in(auth_server, "t1")
    page = client.get(f"/console/images/{doc['id']}")
    described = client.post(
        f"/console/images/{doc['id']}/edit",
        data={"csrf_token": csrf_of(page), "name": XSS_NAME, "description": XSS_TAG},
    )
    assert described.status_code == 400  # the API's name rule, with its message
    assert "&lt;script&gt;" in described.text
    listing = client.get("/console/images?tab=private")
    for text in (page.text, listing.text, described.text):
        assert XSS_NAME not in text
        assert XSS_TAG not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_form_without_the_csrf_token_or_from_another_origin_changes_nothing(
    auth_server: AuthServer,
) -> None:
    owner = auth_server.project("t1")
    doc = catalogs.private(owner, name="before")
    catalogs.load(auth_server.server.database_url, [doc])
    client = sign_in(auth_server, "t1")
    page = client.get(f"/console/images/{doc['id']}")
    token = csrf_of(page)
    url = f"/console/images/{doc['id']}/edit"
    missing = client.post(url, data={"name": "after"})
    assert missing.status_code == 403
    forged = client.post(url, data={"name": "after", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    elsewhere = client.post(
        url,
        data={"name": "after", "csrf_token": token},
        headers={"Origin": "http://evil.example"},
    )
    assert elsewhere.status_code == 403
    cross = client.post(
        url,
        data={"name": "after", "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    # another session's token is not this one's
    other = sign_in(auth_server, "t1")
    theirs = csrf_of(other.get(f"/console/images/{doc['id']}"))
    assert client.post(url, data={"name": "after", "csrf_token": theirs}).status_code == 403
    api = auth_server.client("t1")
    assert api.get(f"/v2/images/{doc['id']}").json()["name"] == "before"
    assert client.post(url, data={"name": "after", "csrf_token": token}).status_code == 303
    assert api.get(f"/v2/images/{doc['id']}").json()["name"] == "after"


def test_a_tenant_cannot_reach_another_tenants_private_image(auth_server: AuthServer) -> None:
    doc = catalogs.private(auth_server.project("t2"), name="secret-of-b")
    catalogs.load(auth_server.server.database_url, [doc])
    client = sign_in(auth_server, "t1")
    page = client.get(f"/console/images/{doc['id']}")
    assert page.status_code == 404
    assert "secret-of-b" not in page.text
    missing = client.get("/console/images/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.text.replace("00000000-0000-0000-0000-000000000000", "") == page.text.replace(
        doc["id"], ""
    )
    token = csrf_of(client.get("/console/images"))
    rename = client.post(
        f"/console/images/{doc['id']}/edit", data={"csrf_token": token, "name": "mine"}
    )
    assert rename.status_code == 404
    assert client.get(f"/console/images/{doc['id']}/file").status_code == 404
    for tab in ("public", "private", "shared"):
        assert "secret-of-b" not in client.get(f"/console/images?tab={tab}").text
    api = auth_server.client("t2")
    assert api.get(f"/v2/images/{doc['id']}").json()["name"] == "secret-of-b"


def test_edits_are_refused_with_the_apis_message_next_to_the_field(
    auth_server: AuthServer,
) -> None:
    doc = catalogs.private(auth_server.project("t1"), name="keep")
    catalogs.load(auth_server.server.database_url, [doc])
    client = sign_in(auth_server, "t1")
    token = csrf_of(client.get(f"/console/images/{doc['id']}"))
    bad = client.post(
        f"/console/images/{doc['id']}/edit",
        data={"csrf_token": token, "name": "x" * 300, "description": ""},
    )
    assert bad.status_code == 400
    assert 'id="error-name"' in bad.text
    assert 'aria-invalid="true"' in bad.text
    tag = client.post(
        f"/console/images/{doc['id']}/tags",
        data={"csrf_token": token, "action": "remove", "tag": "absent"},
    )
    assert tag.status_code == 404
    assert 'id="error-tag"' in tag.text
    api = auth_server.client("t1")
    assert api.get(f"/v2/images/{doc['id']}").json()["name"] == "keep"
    # custom properties: set, refused for a read-only attribute (as the PATCH API), removed
    url = f"/console/images/{doc['id']}/properties"
    assert (
        client.post(url, data={"csrf_token": token, "key": "team", "value": "blue"}).status_code
        == 303
    )
    assert api.get(f"/v2/images/{doc['id']}").json()["team"] == "blue"
    read_only = client.post(url, data={"csrf_token": token, "key": "status", "value": "x"})
    assert read_only.status_code == 403
    assert 'id="error-property"' in read_only.text
    removed = client.post(url, data={"csrf_token": token, "key": "team", "action": "remove"})
    assert removed.status_code == 303
    assert "team" not in api.get(f"/v2/images/{doc['id']}").json()


def test_protected_images_say_so_and_are_not_deleted(auth_server: AuthServer) -> None:
    doc = {**catalogs.private(auth_server.project("t1"), name="guarded"), "protected": True}
    catalogs.load(auth_server.server.database_url, [doc])
    client = sign_in(auth_server, "t1")
    page = client.get(f"/console/images/{doc['id']}")
    assert "protected and cannot be deleted" in page.text
    refused = client.post(f"/console/images/{doc['id']}/delete", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert "is protected and cannot be deleted" in refused.text
    assert auth_server.client("t1").get(f"/v2/images/{doc['id']}").status_code == 200


def test_create_upload_download_and_checksum(server: Server) -> None:
    client = browser(server)
    page = client.get("/console/create")
    assert page.status_code == 200  # no-auth: no sign-in needed
    created = client.post(
        "/console/create",
        data={
            "csrf_token": csrf_of(page),
            "name": "uploaded",
            "disk_format": "raw",
            "container_format": "bare",
        },
    )
    assert created.status_code == 303, created.text
    image_url = created.headers["location"].split("?")[0]
    page = client.get(image_url)
    assert 'id="upload-form"' in page.text
    token = re.search(r'data-csrf="([^"]+)"', page.text)
    assert token
    payload = bytes(range(256)) * 1024
    headers = {"Content-Type": "application/octet-stream"}
    no_token = client.put(image_url + "/file", content=payload, headers=headers)
    assert no_token.status_code == 403
    done = client.put(
        image_url + "/file",
        content=payload,
        headers={**headers, "X-CSRF-Token": token.group(1)},
    )
    assert done.status_code == 204, done.text
    page = client.get(image_url)
    assert hashlib.md5(payload).hexdigest() in page.text  # noqa: S324 (Glance's checksum)
    download = client.get(image_url + "/file")
    assert download.status_code == 200
    assert download.content == payload
    assert "attachment" in download.headers["content-disposition"]


@pytest.mark.parametrize("accept", ["text/html,application/xhtml+xml,*/*;q=0.8"])
def test_the_root_links_a_browser_to_the_console(server: Server, accept: str) -> None:
    client = server.client()
    page = client.get("/", headers={"Accept": accept})
    assert page.status_code == 200
    assert 'href="/console"' in page.text
    assert client.get("/").status_code == 300  # clients still discover versions


def test_no_auth_picker_acts_as_the_chosen_project(server: Server) -> None:
    doc = catalogs.private("someone", name="of-someone")
    catalogs.load(server.database_url, [doc])
    client = browser(server)
    assert client.get(f"/console/images/{doc['id']}").status_code == 404  # as demo
    page = client.get("/console/sign-in")
    chosen = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page), "project_id": "someone", "role": "member"},
    )
    assert chosen.status_code == 303
    assert "of-someone" in client.get(f"/console/images/{doc['id']}").text


async def _console_test_job(run: JobRun) -> dict[str, Any]:
    if run.params.get("fail"):
        raise errors.IMAGE_NOT_FOUND(image_id="gone")
    return {"image_id": "11111111-2222-3333-4444-555555555555", "image_name": "made"}


def test_the_jobs_page_lists_the_projects_jobs_with_their_status(server: Server) -> None:
    register(server, "consoleTestJob", _console_test_job)
    done = submit(server, "consoleTestJob", {})
    failed = submit(server, "consoleTestJob", {"fail": True})
    other = submit(server, "consoleTestJob", {}, project_id="someone-else")
    api = server.client()
    for job_id in (done, failed):
        wait_for_job(api, job_id)
    page = browser(server).get("/console/jobs")
    assert page.status_code == 200
    assert done in page.text and failed in page.text
    assert other not in page.text  # another project's job
    assert "SUCCESS" in page.text and "FAIL" in page.text
    assert "No image found with ID gone" in page.text
    assert 'href="/console/images/11111111-2222-3333-4444-555555555555"' in page.text


def test_the_list_reads_its_view_from_the_url_and_escapes_what_it_echoes(server: Server) -> None:
    docs = [catalogs.image(name=f"gold-{i:02d}", __os_type="Linux") for i in range(5)]
    docs.append(catalogs.image(name="win", __os_type="Windows", __platform="Windows"))
    catalogs.load(server.database_url, docs)
    client = browser(server)
    page = client.get("/console/images?tab=public&os_type=Linux&sort=name&dir=asc&limit=10")
    assert page.status_code == 200
    names = re.findall(r'<a href="/console/images/[^"]+">([^<]+)</a>', page.text)
    assert names == [f"gold-{i:02d}" for i in range(5)]
    # a marker the API refuses is its message above an empty table, not a failure
    bad = client.get("/console/images?tab=public&marker=no-such-image")
    assert 400 <= bad.status_code < 500
    assert 'class="message error"' in bad.text
    # what the URL says is echoed into the form escaped (no reflected script)
    echoed = client.get('/console/images?name="><script>alert(1)</script>&tab=<b>')
    assert "<script>alert(1)</script>" not in echoed.text
    assert "&#34;&gt;&lt;script&gt;" in echoed.text
    assert 'aria-current="page">Public images' in echoed.text  # an unknown tab: the default


def _sort_value(doc: dict[str, Any], key: str) -> Any:
    """What the store sorts `doc` by for `key`: a missing value as its SORT_FILL."""
    value = doc.get(key)
    if value is None:
        return 0 if key == "size" else ""
    return value


@pytest.mark.parametrize("few", [sqlite_plans.FEW, 0])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_every_column_sorts_and_pages_through_the_whole_order(
    server: Server, direction: str, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each column header sorts, OS and type included (not sort keys of the IMS API), and
    the next-page links walk every image of a tab once, in the exact order: the column's
    value, then creation time and id, all in the view's direction. On SQLite both ways a
    sorted page is read: few matches sorted, or (FEW 0) the sort index read in order."""
    monkeypatch.setattr(sqlite_plans, "FEW", few)
    own: list[dict[str, Any]] = []
    shared_with_me: list[dict[str, Any]] = []
    for i in range(46):
        fields: dict[str, Any] = {
            "name": f"img-{(i * 7) % 5}",
            "status": ("active", "queued", "killed")[i % 3],
            "disk_format": ("qcow2", "raw", "vhd", "zvhd2")[i % 4],
            "size": None if i % 6 == 0 else (i * 37) % 11 * 1024,
            "__os_version": catalogs.ABSENT if i % 4 == 0 else f"Ubuntu {i % 3}.04 64bit",
        }
        if i % 2:
            shared_with_me.append(catalogs.shared("other", {"demo": "accepted"}, **fields))
        elif i % 4:
            own.append(catalogs.shared("demo", {"p2": "accepted"}, **fields))
        else:
            own.append(catalogs.private("demo", **fields))
    catalogs.load(server.database_url, own + shared_with_me)
    client = browser(server)
    first = client.get("/console/images?tab=private")
    for label in ("Name", "Status", "OS", "Type", "Disk format", "Size", "Created"):
        assert re.search(rf'<a href="/console/images\?[^"]*sort=[^"]+">{label}[ <]', first.text)
    for tab, docs in (("private", own), ("shared&member_status=accepted", shared_with_me)):
        for key in ("name", "status", "__os_version", "__imagetype", "disk_format", "size"):
            url: str | None = f"/console/images?tab={tab}&sort={key}&dir={direction}&limit=10"
            seen: list[str] = []
            while url:
                page = client.get(url)
                assert page.status_code == 200, page.text
                seen += re.findall(
                    r'data-label="Name"><a href="/console/images/([^"]+)"', page.text
                )
                following = re.search(r'href="(/console/images\?[^"]+)" id="next-page"', page.text)
                url = following.group(1).replace("&amp;", "&") if following else None
            expected = sorted(
                docs,
                key=lambda d: (_sort_value(d, key), d["created_at"], d["id"]),
                reverse=direction == "desc",
            )
            assert seen == [d["id"] for d in expected], (tab, key)


class _Fields(HTMLParser):
    """The form fields of a page and the ids its labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        elif tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.fields.append(found)


def test_every_field_has_a_label_for_screen_readers(auth_server: AuthServer) -> None:
    doc = catalogs.private(auth_server.project("t1"), name="labelled", status="queued")
    catalogs.load(auth_server.server.database_url, [doc])
    client = sign_in(auth_server, "t1")
    pages = [
        "/console/images",
        "/console/images?tab=shared",
        f"/console/images/{doc['id']}",
        "/console/create",
    ]
    anonymous = browser(auth_server.server)
    for page, who in [*((p, client) for p in pages), ("/console/sign-in", anonymous)]:
        parsed = _Fields()
        parsed.feed(who.get(page).text)
        assert parsed.fields, page
        for field in parsed.fields:
            named = field.get("aria-label") or field.get("id") in parsed.labelled
            assert named, (page, field)
