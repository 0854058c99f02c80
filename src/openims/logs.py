"""Structured logs: one JSON object per line on stderr. Access-log records carry the request id,
caller project, route, status and duration as fields; nothing else in a request (headers,
bodies, signatures, tokens) is ever passed to a logger.

That holds for the libraries too, at every level. Below info they log what they handle: the
database drivers each statement with its values (image names, properties, project ids from
request bodies), uvicorn at its trace level every ASGI message with the query string and the
headers. So only OpenIMS's own loggers go below info; the libraries log at info and above, and
those that see statements (SQLAlchemy, aiosqlite, asyncpg) at warning and above. (Engines are
created with `hide_parameters`, so a database error logged with its trace shows no value
either.)"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


OWN = "openims"
DATABASE_LIBRARIES = ("sqlalchemy", "aiosqlite", "asyncpg")


class LibraryDetail(logging.Filter):
    """Lets a library's record through at info and above only (OpenIMS's own at any level)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return record.name == OWN or record.name.startswith(OWN + ".")


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LibraryDetail())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    threshold = root.getEffectiveLevel()
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Set on the loggers too, so that their records are not even made: uvicorn wraps the
    # application in its ASGI message logger when its logger is at trace level.
    logging.getLogger("uvicorn").setLevel(max(threshold, logging.INFO))
    for name in DATABASE_LIBRARIES:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))
