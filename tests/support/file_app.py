"""A minimal application serving byte ranges of local files with `openims.api.http.files`,
behind the request-context middleware as the real application is, for the tests of the file
response and the download benchmark. Started as `uvicorn tests.support.file_app:factory
--factory` with `openims serve`'s protocol (and its JSON logs), or `app` called in-process.

    GET /file?path=P[&start=S][&end=E][&status=206][&truncate_to=N]

Each answer says in `X-Zerocopy` whether the server offered the zero-copy extension.
`truncate_to` shortens the file to N bytes just after the response head is sent: the file
changing under a download, deterministically. A `FileShorter` is counted in `SHORT_FILES` (and
re-raised, as a download route does) so a test in the same process can see it was raised."""

from __future__ import annotations

import logging
import os
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from openims import logs
from openims.api.http.files import ZEROCOPY, FileShorter, send_file
from openims.api.http.middleware import RequestContext

log = logging.getLogger("openims.test.files")
SHORT_FILES: list[FileShorter] = []


async def files(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    path = query["path"]
    truncate_to = query.get("truncate_to")

    async def send_then_truncate(message: Message) -> None:
        await send(message)
        if message["type"] == "http.response.start" and truncate_to is not None:
            os.truncate(path, int(truncate_to))

    try:
        await send_file(
            scope,
            receive,
            send_then_truncate,
            path,
            start=int(query.get("start", 0)),
            end=int(query["end"]) if "end" in query else None,
            status=int(query.get("status", 200)),
            headers={
                "Content-Type": "application/octet-stream",
                "X-Zerocopy": "yes" if ZEROCOPY in scope.get("extensions", {}) else "no",
            },
        )
    except FileShorter as exc:
        SHORT_FILES.append(exc)
        log.error("download cut short: %s", exc)
        raise


app = RequestContext(files)


def factory() -> RequestContext:
    logs.configure(os.environ.get("OPENIMS_LOG_LEVEL", "info"))
    return app
