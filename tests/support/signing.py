"""Requests signed by the official SDK's own signer (`huaweicloudsdkcore`), for tests that
then alter them: what the SDK would send, byte for byte, before anyone tampers with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer


@dataclass
class Signed:
    """A request as the SDK sends it: `uri` is the path plus the canonical query string."""

    method: str
    base_url: str
    uri: str
    headers: dict[str, str]
    body: bytes | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def send(self, client: httpx.Client | None = None) -> httpx.Response:
        c = client or httpx.Client(timeout=30)
        try:
            return c.request(
                self.method,
                self.base_url + self.uri,
                headers={**self.headers, **self.extra},
                content=self.body,
            )
        finally:
            if client is None:
                c.close()


def sign(
    base_url: str,
    ak: str,
    sk: str,
    method: str,
    path: str,
    *,
    query: list[tuple[str, object]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    project_id: str | None = None,
    content_type: str = "application/json",
) -> Signed:
    """Sign like `ImsClient` does: Content-Type, User-Agent and X-Project-Id are set before
    signing, so they are signed headers, as are Host and X-Sdk-Date."""
    header_params = {
        "Content-Type": content_type,
        "User-Agent": "huaweicloud-usdk-python/3.0",
        **(headers or {}),
    }
    if project_id is not None:
        header_params["X-Project-Id"] = project_id
    request = SdkRequest(
        method=method,
        schema="http",
        host=urlsplit(base_url).netloc,
        resource_path=path,
        query_params=list(query or []),
        header_params=header_params,
        body=body,
    )
    Signer(BasicCredentials(ak, sk)).sign(request)
    return Signed(method, base_url, request.uri, dict(request.header_params), request.body)
