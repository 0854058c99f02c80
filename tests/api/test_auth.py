"""Authentication against a real server with auth on: every route but the public ones needs a
caller, and requests signed by the official SDK's signer are refused once anything they
cover was changed, once they are too old, or when the key or the project is wrong."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from openims import errors
from openims.api.http.authentication import is_console, is_public
from openims.auth import signature
from tests.support.app_routes import routes_of_the_app
from tests.support.servers import AuthServer, Server, start_server
from tests.support.signing import Signed, sign

UNAUTHORIZED = {
    "error": {
        "message": "Incorrect IAM authentication information.",
        "code": "APIGW.0301",
        "title": "Unauthorized",
    }
}
UNAUTHORIZED_IMS = {"error": {k: v for k, v in UNAUTHORIZED["error"].items() if k != "title"}}


def refused(response: httpx.Response) -> None:
    """401 with the one body every authentication failure gets: nothing says what failed."""
    assert response.status_code == 401, response.text
    expected = UNAUTHORIZED_IMS if errors.is_ims_path(response.url.path) else UNAUTHORIZED
    assert response.json() == expected
    assert response.headers["x-request-id"].startswith("req-")


def signed_by(srv: AuthServer, who: str, method: str, path: str, **kw: Any) -> Signed:
    key = srv.keys[who]
    kw.setdefault("project_id", key.project_id)
    return sign(srv.url, key.access_key, key.secret_key, method, path, **kw)


def concrete(template: str) -> str:
    return (
        template.replace("{image_id}", str(uuid.uuid4()))
        .replace("{tag}", "some-tag")
        .replace("{member_id}", "some-project")
        .replace("{project_id}", "some-project")
        .replace("{key}", "some-key")
        .replace("{name}", "swagger-ui.css")  # a file of the API reference page
    )


# --- the guard covers every route ----------------------------------------------------------
def test_every_route_but_the_public_ones_needs_a_caller(auth_server: AuthServer) -> None:
    routes = routes_of_the_app()
    protected = [(m, p) for m, p in routes if not is_public(p) and not is_console(p)]
    assert len(protected) >= 12, routes  # images, tags, members, cloudimages, schemas
    assert any(p.startswith("/v2/schemas") for _m, p in protected)
    anonymous = auth_server.client(None)
    impostor = auth_server.client(None, **{"X-Project-Id": "tenant-a", "X-Roles": "admin"})
    wrong_token = auth_server.client(None, **{"X-Auth-Token": "not-a-token"})
    for method, template in protected:
        path = concrete(template)
        for client in (anonymous, impostor, wrong_token):
            r = client.request(method, path, json={"member": "x"} if method != "GET" else None)
            assert r.status_code == 401, (method, template, r.status_code, r.text)
            refused(r)
    for method, template in routes:
        if is_public(template):
            assert method == "GET", (method, template)  # public routes only read
            path = concrete(template)
            r = anonymous.get(path)
            assert r.status_code in (200, 300), (path, r.status_code)
    # the console asks for its own session (tests/api/test_console.py): without one, a page
    # sends the browser to sign in and a change is refused
    console = [(m, p) for m, p in routes if is_console(p)]
    assert len(console) >= 10, routes
    for method, template in console:
        path = concrete(template)
        r = anonymous.request(method, path, follow_redirects=False)
        if method != "GET" and r.status_code != 303:
            assert r.status_code in (401, 403), (method, template, r.status_code)
        elif r.status_code == 303:
            assert r.headers["location"].startswith(("/console/sign-in", "/console/images"))
        else:
            assert path in ("/console/sign-in", "/console/static/swagger-ui.css"), path
    # the guard sits in front of the router: a path no route serves is refused the same way
    refused(anonymous.get("/v2/no-such-thing"))
    refused(anonymous.delete("/v2/images"))


def test_public_paths_are_served_without_credentials(auth_server: AuthServer) -> None:
    anonymous = auth_server.client(None)
    assert anonymous.get("/").status_code == 300
    assert anonymous.get("/v2").json()["version"]["status"] == "CURRENT"
    assert anonymous.get("/v2/").status_code == 200
    assert anonymous.get("/versions").status_code == 200
    assert anonymous.get("/healthz").json()["status"] == "ok"
    assert "paths" in anonymous.get("/openapi.json").json()
    assert anonymous.get("/docs").status_code == 200


def test_the_description_names_the_credentials_each_operation_needs(
    auth_server: AuthServer, server: Server
) -> None:
    spec = auth_server.client(None).get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", "Authorization"),
        ("header", "X-Auth-Token"),
    }
    either: list[dict[str, list[str]]] = [{name: []} for name in schemes]
    secured = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if is_public(path):
                assert "security" not in operation, (method, path)
            else:
                assert operation["security"] == either, (method, path)
                secured += 1
    assert secured >= 15
    # in emulator mode nothing is required, and the description says so
    emulator = server.client().get("/openapi.json").json()
    assert "securitySchemes" not in emulator["components"]
    assert not any("security" in op for ops in emulator["paths"].values() for op in ops.values())


def test_tokens_act_as_their_project_and_ignore_emulator_headers(
    auth_server: AuthServer,
) -> None:
    t1 = auth_server.client("t1")
    image = t1.post("/v2/images", json={"name": "mine"}).json()
    assert image["owner"] == "tenant-a"
    # X-Roles and a matching X-Project-Id change nothing about who t2 is
    t2_as_admin = auth_server.client("t2", **{"X-Roles": "admin", "X-Project-Id": "tenant-b"})
    assert t2_as_admin.get(f"/v2/images/{image['id']}").status_code == 404
    assert (
        t2_as_admin.post("/v2/images", json={"name": "x", "owner": "tenant-a"}).status_code == 403
    )
    # a token sent for another project is refused
    refused(auth_server.client("t1", **{"X-Project-Id": "tenant-b"}).get("/v2/images"))
    assert auth_server.client("t1", **{"X-Project-Id": "tenant-a"}).get("/v2/images").is_success


# --- SDK signatures: accepted as signed, refused once altered --------------------------------
def test_sdk_signed_requests_are_accepted(auth_server: AuthServer) -> None:
    body = json.dumps({"name": "签名 image", "tags": ["环境=测试", "c d"]}).encode()
    created = signed_by(auth_server, "t1", "POST", "/v2/images", body=body).send()
    assert created.status_code == 201, created.text  # the route read the body after auth
    image = created.json()
    assert image["owner"] == "tenant-a" and image["name"] == "签名 image"
    query: list[tuple[str, object]] = [
        ("limit", 5),
        ("__imagetype", "private"),
        ("name", "签名 image"),
        ("sort_key", "name"),
    ]
    listed = signed_by(auth_server, "t1", "GET", "/v2/cloudimages", query=query).send()
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["images"]] == [image["id"]]
    tag_path = f"/v2/images/{image['id']}/tags/{quote('x~y.z_1 ü%+&', safe='')}"  # as the SDK
    tag = signed_by(auth_server, "t1", "PUT", tag_path).send()
    assert tag.status_code == 204, tag.text
    shown = signed_by(auth_server, "t1", "GET", f"/v2/images/{image['id']}").send()
    assert shown.json()["tags"] == ["环境=测试", "c d", "x~y.z_1 ü%+&"]
    # a hash declared in X-Sdk-Content-Sha256 is accepted when it is the body's
    body2 = b'{"name": "declared"}'
    declared = {"X-Sdk-Content-Sha256": hashlib.sha256(body2).hexdigest()}
    ok = signed_by(auth_server, "t1", "POST", "/v2/images", body=body2, headers=declared)
    assert ok.send().status_code == 201
    # no X-Project-Id at all: the credential's project is the caller's
    bare = signed_by(auth_server, "t2", "GET", "/v2/images", project_id=None).send()
    assert bare.status_code == 200 and bare.json()["images"] == []


def _tamper(signed: Signed, **changes: Any) -> Signed:
    return Signed(
        changes.get("method", signed.method),
        signed.base_url,
        changes.get("uri", signed.uri),
        {**signed.headers, **changes.get("headers", {})},
        changes.get("body", signed.body),
    )


def _count_images(srv: AuthServer) -> int:
    return len(srv.client("admin").get("/v2/images", params={"limit": 1000}).json()["images"])


def test_a_tampered_body_is_refused_and_writes_nothing(auth_server: AuthServer) -> None:
    body = b'{"name": "original"}'
    original = signed_by(auth_server, "t1", "POST", "/v2/images", body=body)
    refused(_tamper(original, body=b'{"name": "tampered"}').send())
    refused(_tamper(original, body=b'{"name": "original"} ').send())
    refused(_tamper(original, body=b"").send())
    assert _count_images(auth_server) == 0
    # an honest hash declaration does not let a different body through either
    declared = {"X-Sdk-Content-Sha256": hashlib.sha256(body).hexdigest()}
    with_hash = signed_by(auth_server, "t1", "POST", "/v2/images", body=body, headers=declared)
    refused(_tamper(with_hash, body=b'{"name": "tampered"}').send())
    lying = {"X-Sdk-Content-Sha256": hashlib.sha256(b"other").hexdigest()}
    refused(signed_by(auth_server, "t1", "POST", "/v2/images", body=body, headers=lying).send())
    assert _count_images(auth_server) == 0
    assert original.send().status_code == 201  # the untouched request was valid all along


def test_a_tampered_query_path_method_or_header_is_refused(auth_server: AuthServer) -> None:
    query: list[tuple[str, object]] = [("limit", 5), ("__imagetype", "gold")]
    listing = signed_by(auth_server, "t1", "GET", "/v2/cloudimages", query=query)
    assert listing.uri == "/v2/cloudimages?__imagetype=gold&limit=5"
    refused(_tamper(listing, uri="/v2/cloudimages?__imagetype=gold&limit=6").send())
    refused(_tamper(listing, uri="/v2/cloudimages?__imagetype=private&limit=5").send())
    refused(_tamper(listing, uri="/v2/cloudimages?__imagetype=gold").send())
    refused(_tamper(listing, uri="/v2/cloudimages?__imagetype=gold&limit=5&owner=x").send())
    refused(_tamper(listing, uri="/v2/cloudimages?__imagetype=gold&limit=5&limit=6").send())
    refused(_tamper(listing, uri="/v2/images?__imagetype=gold&limit=5").send())
    refused(_tamper(listing, headers={"User-Agent": "something else"}).send())
    refused(_tamper(listing, headers={"Host": "evil.example:80"}).send())
    refused(_tamper(listing, headers={"Content-Type": "text/plain"}).send())
    assert listing.send().status_code == 200
    # the same pairs in another order are the same canonical query: still valid
    assert _tamper(listing, uri="/v2/cloudimages?limit=5&__imagetype=gold").send().is_success

    image = auth_server.client("t1").post("/v2/images", json={"name": "keep"}).json()
    show = signed_by(auth_server, "t1", "GET", f"/v2/images/{image['id']}")
    refused(_tamper(show, method="DELETE").send())
    assert show.send().status_code == 200  # still there
    other = signed_by(auth_server, "t1", "GET", "/v2/images")
    moved = _tamper(show, headers={"Authorization": other.headers["Authorization"]})
    refused(moved.send())  # a signature belongs to its own request


def test_replayed_late_or_early_requests_are_refused(auth_server: AuthServer) -> None:
    def at(offset: timedelta) -> httpx.Response:
        stamp = (datetime.now(UTC) + offset).strftime(signature.DATE_FORMAT)
        signed = signed_by(auth_server, "t1", "GET", "/v2/images", headers={"X-Sdk-Date": stamp})
        return signed.send()

    refused(at(-timedelta(minutes=16)))
    refused(at(timedelta(minutes=16)))
    refused(at(-timedelta(days=365)))
    assert at(-timedelta(minutes=14)).status_code == 200  # inside the window: the date it is
    assert at(timedelta(minutes=14)).status_code == 200
    fresh = signed_by(auth_server, "t1", "GET", "/v2/images")
    for bad_date in ("2020-01-01T00:00:00Z", "", "20991301T000000Z", "garbage"):
        refused(_tamper(fresh, headers={"X-Sdk-Date": bad_date}).send())


def test_wrong_keys_are_refused(auth_server: AuthServer) -> None:
    key = auth_server.keys["t1"]
    wrong_secret = sign(auth_server.url, key.access_key, key.secret_key + "x", "GET", "/v2/images")
    refused(wrong_secret.send())
    other_secret = auth_server.keys["t2"].secret_key
    refused(sign(auth_server.url, key.access_key, other_secret, "GET", "/v2/images").send())
    refused(
        sign(auth_server.url, "UNKNOWNACCESSKEY0000", key.secret_key, "GET", "/v2/images").send()
    )
    refused(
        sign(auth_server.url, key.access_key.lower(), key.secret_key, "GET", "/v2/images").send()
    )


def test_a_project_other_than_the_credentials_is_refused(auth_server: AuthServer) -> None:
    refused(signed_by(auth_server, "t1", "GET", "/v2/images", project_id="tenant-b").send())
    refused(signed_by(auth_server, "admin", "GET", "/v2/images", project_id="tenant-a").send())
    refused(signed_by(auth_server, "t1", "GET", "/v2/cloudimages", project_id="").send())
    ok = signed_by(auth_server, "t1", "GET", "/v2/images", project_id="tenant-a")
    assert ok.send().status_code == 200
    # an unsigned second X-Project-Id cannot slip another project in either
    two = httpx.Client(timeout=30)
    try:
        headers = [*ok.headers.items(), ("X-Project-Id", "tenant-b")]
        refused(two.get(auth_server.url + ok.uri, headers=headers))
    finally:
        two.close()


def test_malformed_or_foreign_authorization_is_refused(auth_server: AuthServer) -> None:
    good = signed_by(auth_server, "t1", "GET", "/v2/images")
    auth = good.headers["Authorization"]
    # the last hex digit changed, never left as it was (a fixed "0" would be a no-op 1 time in 16)
    forged = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    assert forged != auth
    variants = [
        "",
        "SDK-HMAC-SHA256",
        auth.replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3"),
        auth.replace("SDK-HMAC-SHA256", "V11-HMAC-SHA256"),
        auth.replace("Access=", "Credential="),
        auth[:-1],
        forged,
        auth.replace("SignedHeaders=", "SignedHeaders=accept;"),
        auth + ", Extra=1",
        "Bearer " + auth_server.tokens["t1"].token,
    ]
    for value in variants:
        refused(_tamper(good, headers={"Authorization": value}).send())
    # a valid signature that leaves out the host or the date is not enough
    key = auth_server.keys["t1"]
    stamp = datetime.now(UTC).strftime(signature.DATE_FORMAT)
    for signed_names in (["x-sdk-date"], ["host"]):
        headers = {"host": httpx.URL(auth_server.url).netloc.decode(), "x-sdk-date": stamp}
        canonical = signature.canonical_request(
            "GET", "/v2/images", [], headers, signed_names, signature.EMPTY_SHA256
        )
        sig = signature.signature(key.secret_key, stamp, canonical)
        value = (
            f"SDK-HMAC-SHA256 Access={key.access_key}, "
            f"SignedHeaders={';'.join(signed_names)}, Signature={sig}"
        )
        refused(
            httpx.get(f"{auth_server.url}/v2/images", headers={**headers, "Authorization": value})
        )
    # a signature wins over a token: a bad one is not rescued by a good token
    token = auth_server.tokens["t1"].token
    refused(_tamper(good, headers={"Authorization": forged, "X-Auth-Token": token}).send())


def test_unsigned_payload_only_where_the_sdk_uses_it(auth_server: AuthServer) -> None:
    unsigned = {"X-Sdk-Content-Sha256": signature.UNSIGNED_PAYLOAD}
    body = b'{"name": "unsigned"}'
    # a JSON body is always hashed by the SDK: UNSIGNED-PAYLOAD there is refused
    json_post = signed_by(auth_server, "t1", "POST", "/v2/images", body=body, headers=unsigned)
    refused(json_post.send())
    assert _count_images(auth_server) == 0
    # the JSON-patch PATCH is what the SDK sends unsigned: authentication lets it through
    image = auth_server.client("t1").post("/v2/images", json={"name": "p"}).json()
    patch_body = b'[{"op": "replace", "path": "/name", "value": "q"}]'
    patch = signed_by(
        auth_server,
        "t1",
        "PATCH",
        f"/v2/images/{image['id']}",
        body=patch_body,
        content_type="application/openstack-images-v2.1-json-patch",
    )
    assert patch.headers["X-Sdk-Content-Sha256"] == signature.UNSIGNED_PAYLOAD
    assert patch.send().status_code != 401
    # ... but its method, path, query, headers and date are still covered
    refused(_tamper(patch, uri=f"/v2/images/{uuid.uuid4()}").send())
    refused(_tamper(patch, headers={"Content-Type": "application/json"}).send())
    refused(_tamper(patch, body=b"").send())


def test_the_ims_update_body_is_covered_by_the_signature(auth_server: AuthServer) -> None:
    """`PATCH /v2/cloudimages/{id}` carries JSON, which the SDK signs over the body's hash:
    unlike the JSON-patch PATCH, its body cannot be swapped, nor sent UNSIGNED-PAYLOAD."""
    from tests.support.catalogs import load, private

    target = private("tenant-a", name="before")
    load(auth_server.server.database_url, [target])
    path = f"/v2/cloudimages/{target['id']}"
    body = b'[{"op": "replace", "path": "/name", "value": "signed"}]'
    sdk_type = "application/json;charset=UTF-8"
    update = signed_by(auth_server, "t1", "PATCH", path, body=body, content_type=sdk_type)
    assert "X-Sdk-Content-Sha256" not in update.headers
    refused(_tamper(update, body=body.replace(b"signed", b"forged")).send())
    unsigned = {"X-Sdk-Content-Sha256": signature.UNSIGNED_PAYLOAD}
    refused(
        signed_by(
            auth_server, "t1", "PATCH", path, body=body, content_type=sdk_type, headers=unsigned
        ).send()
    )
    admin = auth_server.client("admin")
    assert admin.get(f"/v2/images/{target['id']}").json()["name"] == "before"
    answer = update.send()
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "signed"


def test_bodies_beyond_the_limit_are_refused_before_hashing(auth_server: AuthServer) -> None:
    huge = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    r = signed_by(auth_server, "t1", "POST", "/v2/images", body=huge).send()
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "APIGW.0201"
    assert _count_images(auth_server) == 0


# --- roles --------------------------------------------------------------------------------
def test_only_admins_create_public_gold_images(auth_server: AuthServer) -> None:
    t1 = auth_server.client("t1")
    for fields in (
        {"visibility": "public"},
        {"__imagetype": "gold"},
        {"owner": "tenant-b"},
    ):
        r = t1.post("/v2/images", json={"name": "x", **fields})
        assert r.status_code == 403, (fields, r.text)
        assert r.json()["error"]["code"] == "IMG.0026"
    admin = auth_server.client("admin")
    gold = admin.post(
        "/v2/images", json={"name": "gold", "visibility": "public", "__imagetype": "gold"}
    )
    assert gold.status_code == 201, gold.text
    assert gold.json()["owner"] == "admin-project"
    for who in ("t1", "t2", "reader"):
        seen = auth_server.client(who).get("/v2/cloudimages", params={"__imagetype": "gold"})
        assert [i["id"] for i in seen.json()["images"]] == [gold.json()["id"]]
    on_behalf = admin.post("/v2/images", json={"name": "for b", "owner": "tenant-b"})
    assert on_behalf.status_code == 201 and on_behalf.json()["owner"] == "tenant-b"
    assert _count_images(auth_server) == 2


def test_admins_see_and_manage_every_tenant(auth_server: AuthServer) -> None:
    a = auth_server.client("t1").post("/v2/images", json={"name": "a"}).json()
    b = auth_server.client("t2").post("/v2/images", json={"name": "b"}).json()
    admin = auth_server.client("admin")
    listed = {i["id"] for i in admin.get("/v2/images").json()["images"]}
    assert {a["id"], b["id"]} <= listed
    assert admin.put(f"/v2/images/{a['id']}/tags/checked").status_code == 204
    assert admin.delete(f"/v2/images/{b['id']}").status_code == 204
    assert auth_server.client("t2").get(f"/v2/images/{b['id']}").status_code == 404


def test_a_reader_reads_but_does_not_write(auth_server: AuthServer) -> None:
    mine = auth_server.client("t1").post("/v2/images", json={"name": "a"}).json()
    reader = auth_server.client("reader")
    assert reader.get(f"/v2/images/{mine['id']}").status_code == 200
    assert reader.post("/v2/images", json={"name": "r"}).status_code == 403
    assert reader.delete(f"/v2/images/{mine['id']}").status_code == 403
    assert reader.put(f"/v2/images/{mine['id']}/tags/t").status_code == 403


def test_identical_refusals_whatever_failed(auth_server: AuthServer) -> None:
    """Unknown key, bad signature, stale date, foreign project, unknown token, nothing at all:
    the same status, the same body, the same headers apart from the request id."""
    key = auth_server.keys["t1"]
    stale = (datetime.now(UTC) - timedelta(hours=1)).strftime(signature.DATE_FORMAT)
    responses = [
        auth_server.client(None).get("/v2/images"),
        auth_server.client(None, **{"X-Auth-Token": "nope"}).get("/v2/images"),
        sign(auth_server.url, "NOPE", key.secret_key, "GET", "/v2/images").send(),
        sign(auth_server.url, key.access_key, "wrong", "GET", "/v2/images").send(),
        signed_by(auth_server, "t1", "GET", "/v2/images", headers={"X-Sdk-Date": stale}).send(),
        signed_by(auth_server, "t1", "GET", "/v2/images", project_id="tenant-b").send(),
    ]
    shapes = {
        (
            r.status_code,
            r.content,
            tuple(
                sorted(
                    k
                    for k in r.headers
                    if k not in ("x-request-id", "x-openstack-request-id", "date")
                )
            ),
        )
        for r in responses
    }
    assert len(shapes) == 1, shapes


# --- secrets stay out of the logs ----------------------------------------------------------
def test_no_secret_reaches_the_server_log(sqlite_database: str, tmp_path: Path) -> None:
    """At debug level, after accepted and refused requests of every kind, the log holds no
    secret key, no token, no signature and no Authorization value."""
    srv = start_server(sqlite_database, tmp_path, auth=True, env={"OPENIMS_LOG_LEVEL": "debug"})
    keys, tokens = srv.keys, srv.tokens
    sent_secrets = []
    try:
        ok = signed_by(srv, "t1", "POST", "/v2/images", body=b'{"name": "logged"}')
        assert ok.send().status_code == 201
        bad = sign(srv.url, keys["t1"].access_key, keys["t2"].secret_key, "GET", "/v2/images")
        refused(bad.send())
        late = (datetime.now(UTC) - timedelta(hours=2)).strftime(signature.DATE_FORMAT)
        refused(signed_by(srv, "t2", "GET", "/v2/images", headers={"X-Sdk-Date": late}).send())
        refused(signed_by(srv, "t1", "GET", "/v2/images", project_id="tenant-b").send())
        assert srv.client("t3").get("/v2/cloudimages").status_code == 200
        refused(srv.client(None, **{"X-Auth-Token": "guessed-token-value-123"}).get("/v2/images"))
        refused(srv.client("t1", **{"X-Project-Id": "tenant-b"}).get("/v2/images"))
        sent_secrets += [ok.headers["Authorization"], bad.headers["Authorization"]]
    finally:
        srv.stop()
    log = srv.log.read_text("utf-8", "replace")
    assert '"status":201' in log and '"status":401' in log  # requests were logged
    secrets = [k.secret_key for k in keys.values()] + [t.token for t in tokens.values()]
    secrets += ["guessed-token-value-123"]
    secrets += [value.rsplit("Signature=", 1)[1] for value in sent_secrets]
    for secret in secrets:
        assert secret not in log
    assert "authorization" not in log.lower()


def test_temporary_credentials_are_refused(auth_server: AuthServer) -> None:
    """`X-Security-Token` is the SDK's temporary-credential header: a request carrying it is
    refused, signed into the request by a permanent key (as the SDK sends it) or not, and
    beside a static token, as docs/auth.md says; it used to be ignored."""
    signed = signed_by(
        auth_server, "t1", "GET", "/v2/images", headers={"X-Security-Token": "temporary"}
    )
    assert "x-security-token" in signed.headers["Authorization"]  # covered by the signature
    refused(signed.send())
    late = signed_by(auth_server, "t1", "GET", "/v2/cloudimages")
    late.extra["X-Security-Token"] = "temporary"
    refused(late.send())
    refused(auth_server.client("t2", **{"X-Security-Token": "temporary"}).get("/v2/images"))
    # the same requests without it are accepted
    assert signed_by(auth_server, "t1", "GET", "/v2/images").send().status_code == 200
    assert auth_server.client("t2").get("/v2/images").status_code == 200


def test_a_signed_upload_streams_when_its_payload_is_declared_unsigned(
    auth_server: AuthServer,
) -> None:
    """An image upload is larger than any JSON body: the SDK signs a non-JSON body as
    UNSIGNED-PAYLOAD, and such a request is authenticated from its head and streamed (a
    signature over the body would make the server hold it whole, up to the body limit)."""
    meta = b'{"name": "signed-upload", "disk_format": "raw", "container_format": "bare"}'
    created = signed_by(auth_server, "t1", "POST", "/v2/images", body=meta).send()
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    path = f"/v2/images/{image_id}/file"
    data = os.urandom(3 * 1024 * 1024)  # over the 1 MiB body limit
    octets = "application/octet-stream"
    upload = signed_by(auth_server, "t1", "PUT", path, body=data, content_type=octets)
    assert upload.headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"  # as the SDK signs it
    answer = upload.send()
    assert answer.status_code == 204, answer.text
    shown = auth_server.client("t1").get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    unsigned = {"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}
    # a JSON body may not be declared unsigned: it is refused, as before
    refused(signed_by(auth_server, "t1", "POST", "/v2/images", body=meta, headers=unsigned).send())
