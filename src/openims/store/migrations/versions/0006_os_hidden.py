"""images.os_hidden: Glance's hidden flag, a column and a key of every stored document

Glance renders `os_hidden` (default false) on every image and leaves hidden images out of its
default list. The column holds the flag for the list filter, indexed as that filter runs on
every Glance list.

Reads return stored document bytes without parsing them, so every stored document gets the
key here, once, rather than at every read: `"os_hidden":false` goes right after `protected`,
where the attribute registry renders it, so the bytes are exactly those a new write of the
image produces. Documents are canonical (every one has `protected`, and a quote inside a JSON
string is escaped), so one SQL text replacement does it without parsing a row. An image that
had a custom property named `os_hidden` (possible before: it was not registered) gets the
flag from it, `true` in any case meaning hidden, and loses the property: Glance's `os_hidden`
is a boolean, never a string.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_KEY = '"os_hidden":'
_images = sa.table(
    "images", sa.column("id"), sa.column("doc", sa.LargeBinary()), sa.column("os_hidden")
)
_properties = sa.table("image_properties", sa.column("image_id"), sa.column("name"))


def _as_text(dialect: str) -> sa.ColumnElement[str]:
    """The document column as text."""
    if dialect == "postgresql":
        return sa.func.convert_from(_images.c.doc, "UTF8")
    return sa.cast(_images.c.doc, sa.Text())


def _as_bytes(text: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[bytes]:
    if dialect == "postgresql":
        return sa.func.convert_to(text, "UTF8")
    return sa.cast(text, sa.LargeBinary())


def _lacks_key(dialect: str) -> sa.ColumnElement[bool]:
    find = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    return find(_as_text(dialect), _KEY) == 0


def _with_flag(doc: dict[str, Any], hidden: bool) -> dict[str, Any]:
    """`doc` with the flag right after `protected` and no custom `os_hidden`."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "os_hidden":
            continue
        out[key] = value
        if key == "protected":
            out["os_hidden"] = hidden
    return out


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("os_hidden", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column("os_hidden", server_default=None)
        batch_op.create_index(
            "ix_images_os_hidden_created_at_id", ["os_hidden", "created_at", "id"], unique=False
        )
    conn = op.get_bind()
    dialect = conn.dialect.name
    # images with a custom property of that name: the property becomes the flag
    custom = conn.execute(
        sa.text(
            "SELECT images.id, images.doc, image_properties.value FROM images "
            "JOIN image_properties ON image_properties.image_id = images.id "
            "WHERE image_properties.name = 'os_hidden'"
        )
    ).all()
    for image_id, doc, value in custom:
        hidden = value.lower() == "true"
        rendered = orjson.dumps(_with_flag(orjson.loads(bytes(doc)), hidden))
        conn.execute(
            _images.update().where(_images.c.id == image_id).values(doc=rendered, os_hidden=hidden)
        )
    conn.execute(_properties.delete().where(_properties.c.name == "os_hidden"))
    # every other document: the key after `protected`, in place
    text = _as_text(dialect)
    for flag in ("false", "true"):
        after = f'"protected":{flag},'
        text = sa.func.replace(text, after, f"{after}{_KEY}false,")
    conn.execute(_images.update().where(_lacks_key(dialect)).values(doc=_as_bytes(text, dialect)))
    left = conn.execute(sa.select(_images.c.id).where(_lacks_key(dialect)).limit(1)).first()
    if left is not None:  # not a canonical document: refuse rather than serve it without the key
        raise RuntimeError(f"image {left[0]}: its stored document has no 'protected' key")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    text = _as_text(dialect)
    for flag in ("false", "true"):
        text = sa.func.replace(text, f",{_KEY}{flag},", ",")
    op.get_bind().execute(_images.update().values(doc=_as_bytes(text, dialect)))
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_os_hidden_created_at_id")
        batch_op.drop_column("os_hidden")
