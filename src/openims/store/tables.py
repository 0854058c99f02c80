"""SQLAlchemy Core tables. The images table has one column per stored registry attribute
(so any attribute can be filtered and the documented ones are indexed) plus `doc`, the
rendered document, which is what reads return. Custom properties, tags and members live in
narrow side tables keyed by image id.

Strings compare by code point on every engine: SQLite's default BINARY collation does that for
UTF-8, and PostgreSQL columns get `COLLATE "C"`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from openims.domain import registry
from openims.domain.registry import Attribute, Kind

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)


def text(length: int | None = None) -> sa.types.TypeEngine[str]:
    """A string type that sorts by code point on PostgreSQL too."""
    base = sa.String(length) if length else sa.Text()
    exact = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(exact, "postgresql")


_IMAGE_ID = re.compile(registry.IMAGE_ID_PATTERN)


class ImageId(sa.types.TypeDecorator[str]):
    """An image id: PostgreSQL's `uuid` (16 bytes), text of 36 characters on SQLite.

    Every index of the image tables ends in the image id, and the side tables' keys begin
    with it: as `uuid` rather than text, PostgreSQL compares it as 16 fixed bytes and the
    indexes are a third smaller, so an import builds the 1M catalog's indexes about 14%
    faster (docs/benchmarks.md, "Import"). Ids come back as the same lower-case strings.

    PostgreSQL's `uuid` holds nothing else, so a value that is not an id in that form (a
    path segment, a marker, a filter's value) is bound there as NULL: it names no image, as
    it names none on SQLite, instead of failing the statement. Every stored id has that form:
    `POST /v2/images` stores a given id in lower case, an import refuses any other, and
    migration 0013 checks the ids it converts."""

    impl = text(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if isinstance(value, uuid.UUID):  # an id read on the driver's own path (store.driver)
            return str(value)
        if dialect.name == "postgresql" and not (type(value) is str and _IMAGE_ID.fullmatch(value)):
            return None
        return value


# The B-tree indexes of the image tables all end in a key that is unique with the columns
# before it (an image id, with the tag or the member where the row has one), so no two entries
# are ever equal and PostgreSQL's deduplication of equal entries never finds any. Turned off,
# page splits and index builds skip its pass: an import builds the 1M catalog's 21 images
# indexes 6-9% faster (17.0-17.3 s against 18.0-18.7, docs/benchmarks.md, "Import").
_UNIQUE_KEYS: dict[str, Any] = {"postgresql_with": {"deduplicate_items": "off"}}


def _column_type(attr: Attribute) -> sa.types.TypeEngine[Any]:
    if attr.name == "id":
        return ImageId()
    if attr.kind is Kind.INTEGER:
        return sa.BigInteger()
    if attr.kind is Kind.DATETIME:
        return sa.BigInteger()  # epoch seconds
    if attr.kind is Kind.BOOLEAN:
        return sa.Boolean()
    return text(attr.max_length if attr.max_length and attr.max_length <= 255 else None)


def _column(attr: Attribute) -> sa.Column[Any]:
    assert attr.column is not None
    # Sort keys are NOT NULL so that keyset paging can compare row values directly.
    nullable = attr.nullable and not attr.sortable
    return sa.Column(
        attr.column, _column_type(attr), nullable=nullable, primary_key=attr.name == "id"
    )


images = sa.Table(
    "images",
    metadata,
    *(_column(a) for a in registry.stored()),
    sa.Column("doc", sa.LargeBinary(), nullable=False),
)

# Default order (created_at, id) and an index for every indexed attribute (registry), ending
# in the default order so that "filter + newest first + LIMIT" and "sorted by the attribute +
# LIMIT" read the index in order.
sa.Index("ix_images_created_at_id", images.c.created_at, images.c.id, **_UNIQUE_KEYS)
for _attr in registry.stored():
    if _attr.indexed and _attr.column:
        sa.Index(None, images.c[_attr.column], images.c.created_at, images.c.id, **_UNIQUE_KEYS)
# The console's shared tab sorted by type or by status: over shared images both are all but
# constant (a shared image's type is `shared`; only an active image is shared), so the
# column's own index holds them in one run far from where a scan starts (after every private
# image; after every queued and killed one, descending). These read them in order at once.
for _shared_key in ("imagetype", "status"):
    sa.Index(
        None,
        images.c.visibility,
        images.c[_shared_key],
        images.c.created_at,
        images.c.id,
        **_UNIQUE_KEYS,
    )

image_properties = sa.Table(
    "image_properties",
    metadata,
    sa.Column(
        "image_id", ImageId(), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", text(255), primary_key=True),
    sa.Column("value", text(), nullable=False),
)
# A hash index on PostgreSQL (no entry-size limit, so values may be long); SQLite's B-tree has
# no such limit. Equality is all the property filters ask.
sa.Index("ix_image_properties_value", image_properties.c.value, postgresql_using="hash")

image_tags = sa.Table(
    "image_tags",
    metadata,
    sa.Column(
        "image_id", ImageId(), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("tag", text(255), primary_key=True),
)
sa.Index(None, image_tags.c.tag, image_tags.c.image_id, **_UNIQUE_KEYS)

image_members = sa.Table(
    "image_members",
    metadata,
    sa.Column(
        "image_id", ImageId(), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("member_id", text(255), primary_key=True),
    sa.Column("status", text(20), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    # the image's created_at (immutable), so "shared with me" pages come off one index in order
    sa.Column("image_created_at", sa.BigInteger(), nullable=False),
)
sa.Index(
    None,
    image_members.c.member_id,
    image_members.c.status,
    image_members.c.image_id,
    **_UNIQUE_KEYS,
)
sa.Index(
    None,
    image_members.c.member_id,
    image_members.c.status,
    image_members.c.image_created_at,
    image_members.c.image_id,
    **_UNIQUE_KEYS,
)

# Sort columns that are NOT NULL store this in place of a missing value.
SORT_FILL: dict[str, Any] = {
    a.column: (0 if a.kind in (Kind.INTEGER, Kind.DATETIME) else "")
    for a in registry.stored()
    if a.sortable and a.nullable and a.column
}

# An upload or a staging in progress: the row exists from the moment an image turns `saving`
# (or starts staging) until its bytes are committed or dropped. `heartbeat_at` (epoch seconds)
# is renewed while the bytes flow, so that any replica can tell an upload whose process died
# (a stale heartbeat) from a live one, and put the image back as it was (`ImageStore.
# expire_uploads`); `openims gc` keeps the blob of a live upload.
image_uploads = sa.Table(
    "image_uploads",
    metadata,
    sa.Column(
        "image_id", ImageId(), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("token", text(36), nullable=False),
    sa.Column("space", text(16), nullable=False),  # the blob space: images | staging
    sa.Column("status_before", text(20), nullable=False),  # what a failed upload restores
    sa.Column("heartbeat_at", sa.Float(), nullable=False),
)

# IMS asynchronous jobs (`service.jobs`, docs/jobs.md). `params` and `entities` are JSON text;
# times are epoch seconds. A RUNNING job belongs to the worker holding `lease_token` until
# `lease_until`; past it, any replica may claim the job again (or fail it after too many
# `attempts`). Claims read the INIT and RUNNING rows oldest first off (status, created_at).
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", text(32), primary_key=True),
    sa.Column("project_id", text(255), nullable=False),
    sa.Column("job_type", text(64), nullable=False),
    sa.Column("status", text(16), nullable=False),  # INIT | RUNNING | SUCCESS | FAIL
    sa.Column("params", text(), nullable=False),
    sa.Column("entities", text(), nullable=False),
    sa.Column("progress", sa.Float(), nullable=False),  # 0.0-1.0
    sa.Column("attempts", sa.Integer(), nullable=False),  # claims so far
    sa.Column("error_code", text(32), nullable=True),
    sa.Column("fail_reason", text(), nullable=True),
    sa.Column("created_at", sa.Float(), nullable=False),
    sa.Column("begin_at", sa.Float(), nullable=True),
    sa.Column("end_at", sa.Float(), nullable=True),
    sa.Column("lease_token", text(32), nullable=True),
    sa.Column("lease_until", sa.Float(), nullable=True),
    # the stores of the server that accepted the job (`JobStore.placement`); "" for any server
    sa.Column("placement", text(32), nullable=False),
)
sa.Index("ix_jobs_status_created_at", jobs.c.status, jobs.c.created_at)
sa.Index("ix_jobs_project_id_created_at", jobs.c.project_id, jobs.c.created_at)  # console

# The quotas the operator set for a project (`openims quota set`, docs/quotas.md): a NULL keeps
# the setting's default. A project without a row has the defaults.
project_quotas = sa.Table(
    "project_quotas",
    metadata,
    sa.Column("project_id", text(255), primary_key=True),
    sa.Column("images", sa.Integer(), nullable=True),
    sa.Column("bytes", sa.BigInteger(), nullable=True),
)

# Console sessions signed out before they expire (docs/console.md): every process and replica
# refuses a signed cookie whose session id is here, until it would have expired anyway.
console_sign_outs = sa.Table(
    "console_sign_outs",
    metadata,
    sa.Column("session_id", text(64), primary_key=True),
    sa.Column("expires_at", sa.Float(), nullable=False),  # epoch seconds
)
