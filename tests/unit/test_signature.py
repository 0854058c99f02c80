"""`auth.signature` against the official SDK's signer: whatever the SDK signs verifies once it
has crossed the wire, and any change to what it covers does not."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openims.auth import signature
from openims.auth.credentials import Credential, Token
from openims.auth.signature import SignedRequest

AK, SK = "AKAKAKAKAKAKAKAKAKAK", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=12
)
segments = st.lists(text.filter(bool), min_size=1, max_size=4)
query = st.lists(st.tuples(text.filter(bool), text), max_size=5, unique_by=lambda kv: kv[0])
header_value = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20
)


def sdk_signed(
    method: str,
    path: str,
    query_params: list[tuple[str, object]],
    headers: dict[str, str],
    body: bytes | None,
    *,
    sk: str = SK,
    when: datetime = NOW,
) -> SdkRequest:
    request = SdkRequest(
        method=method,
        schema="http",
        host="imsd.example:9292",
        resource_path=path,
        query_params=list(query_params),
        header_params={"X-Sdk-Date": when.strftime(signature.DATE_FORMAT), **headers},
        body=body,
    )
    return Signer(BasicCredentials(AK, sk)).sign(request)


def received(request: SdkRequest, body: bytes | None = None) -> SignedRequest:
    """The request as an ASGI server sees it: path decoded once, query pairs decoded,
    header values back from the wire's UTF-8 bytes, trimmed."""
    parts = urlsplit(request.uri)
    headers = {
        k.lower(): v.encode("latin-1").decode("utf-8").strip()
        for k, v in request.header_params.items()
    }
    return SignedRequest(
        method=request.method,
        path=unquote(parts.path),
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        repeated=frozenset(),
        body=(request.body or b"") if body is None else body,
    )


def verifies(request: SignedRequest, sdk_request: SdkRequest, *, now: datetime = NOW) -> bool:
    parsed = signature.parse_authorization(sdk_request.header_params["Authorization"])
    assert parsed is not None
    return signature.verify(request, parsed, SK, now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=segments,
    pairs=query,
    agent=header_value,
    body=st.one_of(st.none(), st.binary(max_size=64)),
    trailing_slash=st.booleans(),
)
def test_whatever_the_sdk_signs_verifies_and_any_change_does_not(
    method: str,
    path: list[str],
    pairs: list[tuple[str, str]],
    agent: str,
    body: bytes | None,
    trailing_slash: bool,
) -> None:
    resource = "/" + "/".join(quote(s, safe="") for s in path) + ("/" if trailing_slash else "")
    headers = {"Content-Type": "application/json", "User-Agent": agent, "X-Project-Id": "p1"}
    sdk = sdk_signed(method, resource, list(pairs), headers, body)
    request = received(sdk)
    assert verifies(request, sdk)

    def changed(**fields: object) -> SignedRequest:
        values = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "repeated": request.repeated,
            "body": request.body,
            **fields,
        }
        return SignedRequest(**values)  # type: ignore[arg-type]

    assert not verifies(changed(method="HEAD"), sdk)
    assert not verifies(changed(path=request.path + "x"), sdk)
    assert not verifies(changed(query=(*request.query, ("extra", ""))), sdk)
    if request.query:
        (k, v), *rest = request.query
        assert not verifies(changed(query=((k, v + "x"), *rest)), sdk)
    assert not verifies(changed(headers={**request.headers, "x-project-id": "p2"}), sdk)
    assert not verifies(changed(headers={**request.headers, "user-agent": agent + "x"}), sdk)
    assert not verifies(changed(body=(request.body or b"") + b"x"), sdk)
    assert not verifies(changed(repeated=frozenset({"x-project-id"})), sdk)


def test_the_query_is_canonical_whatever_order_or_encoding_arrives() -> None:
    sdk = sdk_signed("GET", "/v2/cloudimages", [("b", "2"), ("a", "x y"), ("flag", True)], {}, None)
    assert sdk.uri == "/v2/cloudimages?a=x%20y&b=2&flag=true"
    request = received(sdk)
    reordered = SignedRequest(
        request.method,
        request.path,
        (("flag", "true"), ("b", "2"), ("a", "x y")),  # "a=x+y" decodes to this too
        request.headers,
        frozenset(),
        b"",
    )
    assert verifies(reordered, sdk)


def test_a_list_valued_query_parameter_signs_each_value_sorted() -> None:
    sdk = sdk_signed("GET", "/v2/images", [("tag", ["b", "a"])], {}, None)
    assert sdk.uri == "/v2/images?tag=a&tag=b"
    assert verifies(received(sdk), sdk)


def test_the_date_window_is_fifteen_minutes_either_way() -> None:
    sdk = sdk_signed("GET", "/v2/images", [], {}, None)
    request = received(sdk)
    for offset in (timedelta(0), timedelta(minutes=15), -timedelta(minutes=15)):
        assert verifies(request, sdk, now=NOW + offset)
    for offset in (timedelta(minutes=15, seconds=1), -timedelta(minutes=15, seconds=1)):
        assert not verifies(request, sdk, now=NOW + offset)


def test_payload_hash_follows_the_sdk() -> None:
    body = b'{"name": "x"}'
    digest = hashlib.sha256(body).hexdigest()
    assert signature.payload_hash(b"", None, "application/json") == signature.EMPTY_SHA256
    # an empty body hashes as empty even when a declaration is sent, as the SDK does
    assert signature.payload_hash(b"", "UNSIGNED-PAYLOAD", None) == signature.EMPTY_SHA256
    assert signature.payload_hash(body, None, "application/json") == digest
    assert signature.payload_hash(body, digest, "application/json") == digest
    assert signature.payload_hash(body, "0" * 64, "application/json") is None
    assert signature.payload_hash(body, "not-hex", "application/json") is None
    patch = "application/openstack-images-v2.1-json-patch"
    assert signature.payload_hash(body, "UNSIGNED-PAYLOAD", patch) == "UNSIGNED-PAYLOAD"
    for json_type in ("application/json", "application/json;charset=UTF-8", None, ""):
        assert signature.payload_hash(body, "UNSIGNED-PAYLOAD", json_type) is None


def test_the_sdk_marks_the_json_patch_unsigned_and_it_verifies() -> None:
    body = b'[{"op": "replace", "path": "/name", "value": "n"}]'
    patch = "application/openstack-images-v2.1-json-patch"
    sdk = sdk_signed("PATCH", "/v2/images/abc", [], {"Content-Type": patch}, body)
    assert sdk.header_params["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert verifies(received(sdk), sdk)
    # the documented limit of UNSIGNED-PAYLOAD: another body verifies too
    assert verifies(received(sdk, body=b'[{"op": "remove", "path": "/x"}]'), sdk)
    assert not verifies(received(sdk, body=b""), sdk)


def test_parse_authorization() -> None:
    sig = "ab" * 32
    good = f"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature={sig}"
    parsed = signature.parse_authorization(good)
    assert parsed == signature.Authorization("AK1", ("host", "x-sdk-date"), sig)
    assert sig not in repr(parsed)
    upper = signature.parse_authorization(good.replace(sig, sig.upper()))
    assert upper is not None and upper.signature == sig
    for bad in (
        "",
        good.replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3"),
        good.replace(sig, sig[:-2]),
        good.replace(sig, "zz" * 32),
        good.replace("host;x-sdk-date", "host;host"),
        good.replace("host;x-sdk-date", "Host;x-sdk-date"),
        good.replace("host;x-sdk-date", "host;;x-sdk-date"),
        good.replace("Access=AK1", "Access="),
        good + ", Extra=1",
        good.replace(", ", " "),
    ):
        assert signature.parse_authorization(bad) is None, bad


def test_parse_date() -> None:
    assert signature.parse_date("20260301T120000Z") == NOW
    for bad in ("20260301T120000", "2026-03-01T12:00:00Z", "20261301T120000Z", "", " "):
        assert signature.parse_date(bad) is None


def test_canonical_uri_adds_the_trailing_slash_and_reencodes() -> None:
    assert signature.canonical_uri("/v2/images") == "/v2/images/"
    assert signature.canonical_uri("/v2/images/") == "/v2/images/"
    assert signature.canonical_uri("/v2/images/a b~ü") == "/v2/images/a%20b~%C3%BC/"


def test_secrets_stay_out_of_reprs() -> None:
    credential = Credential("AK1", SK, "p1", frozenset())
    token = Token("tok-secret-value", "p1", frozenset())
    assert SK not in repr(credential) and "tok-secret-value" not in repr(token)
