"""Observability over real HTTP: Prometheus metrics at /metrics (per route template, the
database pool, summed over workers) and the one-line-per-request access log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from openims.api.app import create_app
from openims.api.http.middleware import RequestContext, RouteTemplates
from openims.config import Settings
from tests.support.servers import AuthServer, Server, ServerProcess, start_server
from tests.support.signing import sign

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics, keyed by (name, labels). A fresh connection each time, so that
    with several workers any of them may answer."""
    r = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_count(samples: Samples, method: str, route: str, status: str) -> float:
    return value(samples, "openims_http_requests_total", method=method, route=route, status=status)


def test_metrics_count_requests_per_route_template(server: Server) -> None:
    c = server.client("p-metrics")
    before = scrape(server.url)
    ids = [c.post("/v2/images", json={"name": f"m{i}"}).json()["id"] for i in range(3)]
    for image_id in ids:
        assert c.get(f"/v2/images/{image_id}").status_code == 200
    missing = str(uuid.uuid4())
    assert c.get(f"/v2/images/{missing}").status_code == 404
    assert c.get(f"/no/such/{missing}").status_code == 404
    after = scrape(server.url)

    def delta(method: str, route: str, status: str) -> float:
        return requests_count(after, method, route, status) - requests_count(
            before, method, route, status
        )

    assert delta("GET", "/v2/images/{image_id}", "200") == 3
    assert delta("GET", "/v2/images/{image_id}", "404") == 1
    assert delta("POST", "/v2/images", "201") == 3
    assert delta("GET", "<unmatched>", "404") == 1
    hist = "openims_http_request_duration_seconds_count"
    route = {"method": "GET", "route": "/v2/images/{image_id}"}
    assert value(after, hist, **route) - value(before, hist, **route) == 4
    assert value(after, "openims_http_request_duration_seconds_bucket", le="+Inf", **route) > 0
    # bounded cardinality: no raw path or image id becomes a label
    labels = {v for _, pairs in after for _, v in pairs}
    assert not any(image_id in label for label in labels for image_id in [*ids, missing])


def test_metrics_bound_unusual_methods(server: Server) -> None:
    before = scrape(server.url)
    r = httpx.request("PROPFIND", f"{server.url}/v2/images")
    assert r.status_code == 405
    after = scrape(server.url)
    assert (
        requests_count(after, "OTHER", "/v2/images", "405")
        - requests_count(before, "OTHER", "/v2/images", "405")
        == 1
    )
    assert not any(("method", "PROPFIND") in pairs for _, pairs in after)


def test_metrics_show_the_database_pool(server: Server) -> None:
    samples = scrape(server.url)
    assert value(samples, "openims_db_pool_size") == 10  # OPENIMS_POOL_SIZE default
    # the scrape's own request holds no connection while the gauges are read; the server's
    # job workers hold one for a moment at each look for work, so some scrape sees none
    assert any(value(scrape(server.url), "openims_db_pool_checked_out") == 0 for _ in range(50))
    assert value(samples, "openims_db_pool_connections") >= 1  # /healthz opened one
    assert value(samples, "openims_db_pool_overflow") == 0


def test_refusals_before_routing_are_counted(server: Server) -> None:
    before = scrape(server.url)
    r = httpx.get(f"{server.url}/v2/images", params={"q": "x" * 9000})
    assert r.status_code == 414
    after = scrape(server.url)
    name = "openims_http_refused_total"
    assert value(after, name, status="414") - value(before, name, status="414") == 1


def test_metrics_of_several_workers_are_summed(db_url: str, tmp_path: Path) -> None:
    """A scrape reaches one worker at random; every scrape must show the whole server."""
    srv = start_server(db_url, tmp_path, auth=False, workers=2, env={"OPENIMS_POOL_SIZE": "3"})
    try:
        # the pool gauges of both workers: 2 x 3 configured connections, once both are up
        deadline = time.monotonic() + 30
        while value(scrape(srv.url), "openims_db_pool_size") != 6:
            assert time.monotonic() < deadline, "the two workers' pools are not summed"
            time.sleep(0.2)
        for _ in range(4):
            assert value(scrape(srv.url), "openims_db_pool_size") == 6
        for _ in range(20):  # fresh connections, so both workers answer some
            r = httpx.get(f"{srv.url}/v2/schemas/member", headers={"Connection": "close"})
            assert r.status_code == 200
        for _ in range(4):
            got = requests_count(scrape(srv.url), "GET", "/v2/schemas/member", "200")
            assert got == 20
    finally:
        srv.stop()


# --- the access log -------------------------------------------------------------------------
SECRET_TOKEN = "tok-" + "s3cr3t" * 6
SECRET_SIGNATURE = "Signature=" + "f" * 64


def _log_lines(path: Path, request_id: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while True:
        lines = [
            orjson.loads(line) for line in path.read_bytes().splitlines() if line.startswith(b"{")
        ]
        found = [line for line in lines if line.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_several_workers_write_the_access_log(db_url: str, tmp_path: Path) -> None:
    """Workers are new processes: each sets up the log as `serve` does (they logged nothing)."""
    srv = start_server(db_url, tmp_path, auth=False, workers=2, env={"OPENIMS_LOG_LEVEL": "info"})
    ids = [f"req-worker-{i}" for i in range(20)]
    try:
        for request_id in ids:  # fresh connections, so both workers answer some
            r = httpx.get(
                f"{srv.url}/v2/schemas/member",
                headers={"Connection": "close", "X-Request-Id": request_id},
            )
            assert r.status_code == 200
    finally:
        srv.stop()
    for request_id in ids:
        [line] = _log_lines(srv.log, request_id)
        assert (line["logger"], line["route"], line["status"]) == (
            "openims.access",
            "/v2/schemas/member",
            200,
        )


@pytest.fixture
def logging_server(db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(db_url, tmp_path, auth=False, env={"OPENIMS_LOG_LEVEL": "info"})
    yield srv
    srv.stop()


def test_one_log_line_per_request_without_secrets(logging_server: ServerProcess) -> None:
    srv = logging_server
    secret_headers = {
        "X-Auth-Token": SECRET_TOKEN,
        "Authorization": f"SDK-HMAC-SHA256 Access=ak, SignedHeaders=host, {SECRET_SIGNATURE}",
    }
    c = srv.client("p-logs", **secret_headers)
    created = c.post(
        "/v2/images", json={"name": "logged"}, headers={"X-Request-Id": "req-log-create"}
    )
    assert created.status_code == 201
    image_id = created.json()["id"]
    r = c.get(f"/v2/images/{image_id}", headers={"X-Request-Id": "req-log-show"})
    assert r.headers["x-request-id"] == "req-log-show"
    c.get(f"/v2/images/{uuid.uuid4()}", headers={"X-Request-Id": "req-log-missing"})
    nowhere = c.get("/no/such/0000-abc", headers={"X-Request-Id": "req-log-nowhere"})
    assert nowhere.status_code == 404

    [show] = _log_lines(srv.log, "req-log-show")
    assert show["logger"] == "openims.access"
    assert show["method"] == "GET"
    assert show["route"] == "/v2/images/{image_id}"  # the template: ids stay out of the route
    assert show["status"] == 200
    assert show["project"] == "p-logs"
    assert isinstance(show["duration_ms"], float) and show["duration_ms"] >= 0
    [create] = _log_lines(srv.log, "req-log-create")
    assert (create["route"], create["status"], create["method"]) == ("/v2/images", 201, "POST")
    [missing] = _log_lines(srv.log, "req-log-missing")
    assert missing["status"] == 404 and missing["project"] == "p-logs"
    assert "path" not in show and "path" not in missing  # a matched route needs no path
    # a path no route matches: `route` stays a template-like value, the path is a field
    [nowhere_line] = _log_lines(srv.log, "req-log-nowhere")
    assert (nowhere_line["route"], nowhere_line["path"]) == ("<unmatched>", "/no/such/0000-abc")

    text = srv.log.read_text()
    assert SECRET_TOKEN not in text
    assert SECRET_SIGNATURE not in text
    assert "s3cr3t" not in text


# --- the access log with authentication on --------------------------------------------------
@pytest.fixture
def logging_auth_server(db_url: str, tmp_path: Path) -> Iterator[AuthServer]:
    srv = start_server(db_url, tmp_path, auth=True, env={"OPENIMS_LOG_LEVEL": "info"})
    yield srv
    srv.stop()


def test_the_access_log_names_the_authenticated_project_and_no_secret(
    logging_auth_server: AuthServer,
) -> None:
    """Real tokens and SDK signatures, accepted and refused: each request has its line, with
    the project the credential names (never one a header claims), and no token, secret key,
    signature or Authorization value appears anywhere in the log."""
    srv = logging_auth_server
    key = srv.keys["t1"]
    authorizations: list[str] = []

    def signed(request_id: str, method: str, path: str, **kw: Any) -> httpx.Response:
        s = sign(srv.url, key.access_key, kw.pop("secret", key.secret_key), method, path, **kw)
        s.extra["X-Request-Id"] = request_id  # not signed: the SDK adds none either
        authorizations.append(s.headers["Authorization"])
        return s.send()

    created = signed("req-sk-create", "POST", "/v2/images", body=b'{"name": "logged"}')
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    patched = signed(
        "req-sk-patch",
        "PATCH",
        f"/v2/images/{image_id}",
        body=b'[{"op": "add", "path": "/team", "value": "blue"}]',
        content_type="application/openstack-images-v2.1-json-patch",  # UNSIGNED-PAYLOAD
    )
    assert patched.status_code == 200, patched.text
    wrong = signed("req-sk-wrong", "GET", "/v2/images", secret=srv.keys["t2"].secret_key)
    assert wrong.status_code == 401
    token = srv.client("t1", **{"X-Project-Id": key.project_id})
    shown = token.get(f"/v2/images/{image_id}", headers={"X-Request-Id": "req-token-show"})
    assert shown.status_code == 200
    admin = srv.client("admin")
    listed = admin.get("/v2/cloudimages", headers={"X-Request-Id": "req-token-admin"})
    assert listed.status_code == 200
    guessed = srv.client(None, **{"X-Auth-Token": "guessed-" + "t0ken" * 8})
    assert guessed.get("/v2/images", headers={"X-Request-Id": "req-bad-token"}).status_code == 401
    claims = srv.client("t2", **{"X-Project-Id": key.project_id})  # another tenant's project
    assert claims.get("/v2/images", headers={"X-Request-Id": "req-claims"}).status_code == 401

    expected = {
        "req-sk-create": ("POST", "/v2/images", 201, "tenant-a"),
        "req-sk-patch": ("PATCH", "/v2/images/{image_id}", 200, "tenant-a"),
        "req-sk-wrong": ("GET", "/v2/images", 401, None),
        "req-token-show": ("GET", "/v2/images/{image_id}", 200, "tenant-a"),
        "req-token-admin": ("GET", "/v2/cloudimages", 200, "admin-project"),
        "req-bad-token": ("GET", "/v2/images", 401, None),
        "req-claims": ("GET", "/v2/images", 401, None),
    }
    for request_id, (method, route, status, project) in expected.items():
        [line] = _log_lines(srv.log, request_id)
        assert (line["method"], line["route"], line["status"], line["project"]) == (
            method,
            route,
            status,
            project,
        ), line

    text = srv.log.read_text("utf-8", "replace")
    secrets = [k.secret_key for k in srv.keys.values()] + [t.token for t in srv.tokens.values()]
    secrets += ["guessed-" + "t0ken" * 8]
    secrets += authorizations + [a.rsplit("Signature=", 1)[1] for a in authorizations]
    for secret in secrets:
        assert secret not in text
    assert "authorization" not in text.lower() and "x-auth-token" not in text.lower()


def test_requests_refused_before_routing_have_their_route_template(
    logging_auth_server: AuthServer,
) -> None:
    """A 401 is answered before the router runs; it is still logged and counted under the
    route the request was for, never under its raw path (ids in it) nor under `<unmatched>`
    when a route does match. Only a path that matches no route is `<unmatched>`."""
    srv = logging_auth_server
    anonymous = srv.client(None)
    before = scrape(srv.url)
    sent = {
        "req-anon-list": ("GET", "/v2/images"),
        "req-anon-members": ("GET", "/v2/images/0000-abc/members"),
        "req-anon-member": ("PUT", "/v2/images/0000-abc/members/p-zz9"),
        "req-anon-method": ("PROPFIND", "/v2/images"),  # the router would answer 405
        "req-anon-nowhere": ("GET", "/no/such/0000-abc"),
    }
    for request_id, (method, path) in sent.items():
        r = anonymous.request(method, path, headers={"X-Request-Id": request_id})
        assert r.status_code == 401, (path, r.text)
    after = scrape(srv.url)

    def delta(method: str, route: str, status: str) -> float:
        return requests_count(after, method, route, status) - requests_count(
            before, method, route, status
        )

    assert delta("GET", "/v2/images", "401") == 1
    assert delta("GET", "/v2/images/{image_id}/members", "401") == 1
    assert delta("PUT", "/v2/images/{image_id}/members/{member_id}", "401") == 1
    assert delta("OTHER", "/v2/images", "401") == 1
    assert delta("GET", "<unmatched>", "401") == 1  # /no/such/0000-abc only
    labels = {v for _, pairs in after for _, v in pairs}
    assert not any("0000-abc" in label or "p-zz9" in label for label in labels)

    expected = {
        "req-anon-list": "/v2/images",
        "req-anon-members": "/v2/images/{image_id}/members",
        "req-anon-member": "/v2/images/{image_id}/members/{member_id}",
        "req-anon-method": "/v2/images",
        "req-anon-nowhere": "<unmatched>",
    }
    for request_id, route in expected.items():
        [line] = _log_lines(srv.log, request_id)
        assert (line["route"], line["status"], line["project"]) == (route, 401, None), line
        if route == "<unmatched>":
            assert line["path"] == "/no/such/0000-abc"
        else:
            assert "path" not in line
            assert "0000-abc" not in orjson.dumps(line).decode()


def test_route_templates_cover_every_documented_operation(tmp_path: Path) -> None:
    """The resolver used for requests answered before routing knows every route the app
    serves (a router added to the app but not to the resolver would fail here), and picks
    the same template the router picks."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", no_auth=True))
    # Starlette types a middleware's class as a factory of apps: compare it as an object
    [context] = [m for m in app.user_middleware if cast(object, m.cls) is RequestContext]
    resolve = context.kwargs["routes"]
    assert isinstance(resolve, RouteTemplates)

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}

    operations = app.openapi()["paths"]
    assert len(operations) >= 15
    for template, methods in operations.items():
        path = template.replace("{image_id}", "0000-abc").replace("{member_id}", "p-1")
        path = path.replace("{tag}", "t.1")
        for method in methods:
            assert resolve(scope(method.upper(), path)) == template, (method, path)
    for public in ("/openapi.json", "/docs", "/metrics", "/healthz"):
        assert resolve(scope("GET", public)) == public
    assert resolve(scope("GET", "/v2/images/a/b/c/d")) == "<unmatched>"
    assert resolve(scope("GET", "/v2/images/")) == "<unmatched>"  # the router redirects it


# --- no request body in the log, at any level -----------------------------------------------
@pytest.mark.parametrize("level", ["debug", "notset"])
def test_no_request_body_reaches_the_log_at_debug_level(
    db_url: str, tmp_path: Path, level: str
) -> None:
    """At debug level the database driver logged every statement with its values: image names,
    properties and project ids from request bodies. Distinctive values sent in the bodies (and
    query strings) of creates, patches of both faces, member and tag requests must appear
    nowhere in the log, while the requests themselves are logged."""
    marker = f"zq{uuid.uuid4().hex[:10]}"
    srv = start_server(db_url, tmp_path, auth=False, env={"OPENIMS_LOG_LEVEL": level})
    try:
        admin = srv.admin()
        made = admin.post(
            "/v2/images",
            json={
                "name": f"{marker}-name",
                "owner": f"{marker}-owner",
                "disk_format": "qcow2",
                "container_format": "bare",
                "__os_version": "Ubuntu 20.04 server 64bit",
                "custom_prop": f"{marker}-property",
            },
        )
        assert made.status_code == 201, made.text
        image_id = made.json()["id"]
        patched = admin.patch(
            f"/v2/images/{image_id}",
            content=orjson.dumps([{"op": "add", "path": "/extra", "value": f"{marker}-patch"}]),
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )
        assert patched.status_code == 200, patched.text
        assert admin.put(f"/v2/images/{image_id}/tags/{marker}-tag").status_code == 204
        member = admin.post(f"/v2/images/{image_id}/members", json={"member": f"{marker}-member"})
        assert member.status_code == 200, member.text
        listed = admin.get("/v2/images", params={"name": f"{marker}-name"})
        assert [i["id"] for i in listed.json()["images"]] == [image_id]
        ims = admin.get("/v2/cloudimages", params={"name": f"{marker}-name"})
        assert [i["id"] for i in ims.json()["images"]] == [image_id]
        refused = admin.post("/v2/images", json={"name": f"{marker}-refused", "min_ram": -1})
        assert refused.status_code == 400
    finally:
        srv.stop()
    log = srv.log.read_text("utf-8", "replace")
    assert log.count('"logger":"openims.access"') >= 8  # the requests were logged
    assert marker not in log
