"""Objects in the IMS object storage, named as IMS names OBS objects: `"bucket:path/file.qcow2"`
(`image_url` of the creating calls, `bucket_url` of an export).

`parse_object_url` is the one reader of such a name, and it runs before anything touches a
file system or a network: the bucket must be a valid OBS bucket name, the key a relative
object name that cannot climb out of its bucket. What it returns (`ObjectName`) is the only
thing the object stores (`store/obs`) accept, so a name from a request reaches a path or an
S3 request only through here.

The rules (docs/ims-creating.md, "Object storage"):
- the bucket, before the first `:`: 3-63 characters, lowercase letters, digits, `-` and `.`,
  beginning and ending with a letter or digit, no `..`, `.-` or `-.`, not an IPv4 address
  (OBS's bucket naming rules, which S3's include); empty is IMS's IMG.0068, anything else
  invalid its IMG.0109;
- the key, after it: 1-1024 bytes of UTF-8 (OBS's limit), no control character (NUL
  included), no backslash, not beginning with `/`, and no empty, `.` or `..` segment between
  its `/`s; otherwise IMS's IMG.0017 ("The URL format is incorrect"), as is a name without `:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openims import errors

MAX_KEY_BYTES = 1024  # OBS (and S3): an object name is at most 1024 bytes of UTF-8
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ObjectName:
    """A checked object name: build it with `parse_object_url` or `ObjectName.of`."""

    bucket: str
    key: str

    @classmethod
    def of(cls, bucket: str, key: str) -> ObjectName:
        """The name of `key` in `bucket`, checked as `parse_object_url` checks them."""
        return cls(check_bucket(bucket), check_key(key))

    @property
    def segments(self) -> tuple[str, ...]:
        """The key's `/`-separated parts (each checked: none empty, `.` or `..`)."""
        return tuple(self.key.split("/"))

    def __str__(self) -> str:
        return f"{self.bucket}:{self.key}"


def check_bucket(bucket: str) -> str:
    """`bucket` if it is a valid OBS bucket name; else IMS's refusal (IMG.0068 / IMG.0109)."""
    if not isinstance(bucket, str) or bucket == "":
        raise errors.OBS_BUCKET_EMPTY()
    if (
        not _BUCKET.fullmatch(bucket)
        or ".." in bucket
        or ".-" in bucket
        or "-." in bucket
        or _IPV4.fullmatch(bucket)
    ):
        raise errors.OBS_BUCKET_INVALID(bucket=_shown(bucket))
    return bucket


def check_key(key: str) -> str:
    """`key` if it is an object name that stays inside its bucket; else IMG.0017."""
    if not isinstance(key, str) or key == "":
        raise errors.OBS_URL_INVALID(reason="no object name after the bucket")
    if _CONTROL.search(key):
        raise errors.OBS_URL_INVALID(reason="the object name holds a control character")
    if "\\" in key:
        raise errors.OBS_URL_INVALID(reason="the object name holds a backslash")
    if key.startswith("/"):
        raise errors.OBS_URL_INVALID(reason="the object name is absolute")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8 at all
        raise errors.OBS_URL_INVALID(reason="the object name is not UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise errors.OBS_URL_INVALID(reason=f"the object name is longer than {MAX_KEY_BYTES} bytes")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise errors.OBS_URL_INVALID(reason="the object name has an empty, '.' or '..' segment")
    return key


def parse_object_url(text: object) -> ObjectName:
    """The object `text` names (`"bucket:key"`), checked (see the module's docstring)."""
    if not isinstance(text, str) or ":" not in text:
        raise errors.OBS_URL_INVALID(reason="expected 'bucket:object'")
    bucket, key = text.split(":", 1)
    return ObjectName(check_bucket(bucket), check_key(key))


def _shown(text: str, limit: int = 70) -> str:
    """`text` as a refusal may quote it: printable, and not too long."""
    clean = _CONTROL.sub("?", text)
    return clean if len(clean) <= limit else clean[:limit] + "…"
