"""The bytes of a web-download import: an HTTP GET of a URI the operator's allow-list admits
(`domain.image_import.check_uri`), streamed.

httpx, with every automatic behaviour that could take the request somewhere the allow-list did
not admit turned off: redirects are not followed by the client but here, each hop's target
checked again before it is requested (a bounded number of hops); no proxy or `.netrc` from the
environment (`trust_env=False`); no content decoding (`Accept-Encoding: identity`, raw
bytes), so the image is the entity the server holds and a compressed body cannot expand past
the size limit before it is counted. Connecting and each read have timeouts. The response's
`Content-Length`, when it has one, is checked against the size limit before a byte is read.

Failures are `IMPORT_FETCH_FAILED` (or `IMAGE_TOO_LARGE`), whose message names the URI
without its query: a signed URL's secret stays out of the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urljoin

import httpx

from openims import __version__, errors
from openims.domain import image_import

CONNECT_TIMEOUT = 10.0  # seconds to open the connection
READ_TIMEOUT = 60.0  # seconds without a byte before the download is given up
USER_AGENT = f"OpenIMS/{__version__} (web-download)"


async def fetch(
    image_id: str, uri: str, *, allow: list[str], max_bytes: int
) -> AsyncIterator[bytes]:
    """The body of `uri`, following at most `MAX_REDIRECTS` redirects that the allow-list
    admits; anything but a final 200 is a failure."""
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}

    def failed(reason: str) -> errors.ApiError:
        return errors.IMPORT_FETCH_FAILED(image_id=image_id, reason=reason)

    url = uri
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=timeout, headers=headers
    ) as client:
        for _hop in range(image_import.MAX_REDIRECTS + 1):
            shown = image_import.safe_for_log(url)
            try:
                async with client.stream("GET", url) as response:
                    location = response.headers.get("location")
                    if image_import.redirect_target(response.status_code, location):
                        assert location is not None
                        target = urljoin(url, location)
                        try:
                            url = image_import.check_uri(target, allow)
                        except errors.ApiError:
                            raise failed(
                                f"{shown} redirects to {image_import.safe_for_log(target)}, "
                                "which the allow-list does not admit"
                            ) from None
                        continue
                    if response.status_code != 200:
                        raise failed(f"{shown} answered {response.status_code}")
                    length = response.headers.get("content-length")
                    if length is not None and length.isdigit() and int(length) > max_bytes:
                        raise errors.IMAGE_TOO_LARGE(limit=max_bytes)
                    async for chunk in response.aiter_raw():
                        yield chunk
                    return
            except httpx.HTTPError as exc:
                raise failed(f"{shown}: {type(exc).__name__}") from None
        shown = image_import.safe_for_log(uri)
        raise failed(f"more than {image_import.MAX_REDIRECTS} redirects from {shown}")
