"""The Glance JSON schemas (`GET /v2/schemas/*`), generated from the attribute registry; the
OpenAPI description's image and member schemas are built from them too.

python-glanceclient builds its image model from `/v2/schemas/image` and validates documents
against it, so the schema states every attribute's type exactly (`null` included where a
document may hold it). Attributes a document may lack are marked `is_base: false`: glanceclient
then patches them with `add` rather than `replace`."""

from __future__ import annotations

from typing import Any

from openims.domain import registry
from openims.domain.access import MEMBER_STATUSES
from openims.domain.registry import Attribute, Change, Kind, Presence

_READ_ONLY = (Change.READ_ONLY,)


def attribute_schema(attr: Attribute, *, glance: bool = True) -> dict[str, Any]:
    """The JSON schema of one attribute's value in a document."""
    schema: dict[str, Any]
    if attr.kind is Kind.TAGS:
        schema = {"type": "array", "items": {"type": "string", "maxLength": 255}}
    elif attr.kind is Kind.INTEGER:
        schema = {"type": "integer"}
    elif attr.kind is Kind.BOOLEAN:
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string"}
        if attr.max_length:
            schema["maxLength"] = attr.max_length
    if attr.kind is Kind.INTEGER:  # a string's range is that of the number it spells
        if attr.minimum is not None:
            schema["minimum"] = attr.minimum
        if attr.maximum is not None:
            schema["maximum"] = attr.maximum
    if attr.enum:
        schema["enum"] = list(attr.enum)
    if attr.nullable and attr.kind is not Kind.LINK:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"].append(None)
    schema["description"] = attr.description
    if attr.change in _READ_ONLY:
        schema["readOnly"] = True
    if glance and attr.presence is not Presence.ALWAYS:
        schema["is_base"] = False
    return schema


def image_schema(*, glance: bool = True) -> dict[str, Any]:
    properties = {a.name: attribute_schema(a, glance=glance) for a in registry.rendered()}
    return {
        "name": "image",
        "type": "object",
        "properties": properties,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "type": "object",
        "properties": {
            "status": {
                "type": "string",
                "enum": list(MEMBER_STATUSES),
                "description": "The status of this image member.",
            },
            "created_at": {"type": "string", "description": "Date and time of creation."},
            "updated_at": {"type": "string", "description": "Date and time of last update."},
            "image_id": {"type": "string", "description": "An identifier for the image."},
            "member_id": {"type": "string", "description": "The project the image is shared with."},
            "schema": {"type": "string", "readOnly": True},
        },
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }
