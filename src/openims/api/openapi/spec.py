"""The OpenAPI description: request and response schemas and query parameters, derived from
the attribute registry so that `/openapi.json` describes exactly what the server does. Routes
read raw requests (no per-request pydantic models on the hot path) and declare their shapes
here instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openims.api.openapi import schemas
from openims.domain import patch, query, registry
from openims.domain.registry import Filter, Kind

OCTET_STREAM = "application/octet-stream"
ERROR_STATUSES = (400, 401, 403, 404, 405, 409, 413, 415, 431, 500, 503)
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    300: "Multiple choices",
    400: "Bad request",
    401: "Authentication failed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request entity too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    431: "Request header fields too large",
    500: "Internal error",
    503: "Service unavailable",
}


# How a caller proves who it is when authentication is on (docs/auth.md). Either one is
# enough; an `Authorization` signature, when present, is the one checked.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "signature": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "An AK/SK signature as the Huawei Cloud SDKs compute it: "
        "`SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, Signature=<hex>`, over the "
        "method, path, query, signed headers (`host` and `x-sdk-date` among them) and the "
        "body's SHA-256. Keys come from `openims credentials add`.",
    },
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": "A static token from `openims token add`, as Keystone clients send it.",
    },
}


def secure(spec: dict[str, Any], is_public: Callable[[str], bool]) -> None:
    """Declare the security schemes and require one of them on every operation outside the
    public paths, so the document says what the authentication middleware enforces."""
    spec.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    either: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
    for path, operations in spec.get("paths", {}).items():
        if not is_public(path):
            for operation in operations.values():
                operation["security"] = either


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def responses(
    status: int, schema: str | None = None, errors: tuple[int, ...] = ERROR_STATUSES
) -> dict[int | str, dict[str, Any]]:
    """A route's documented responses: its success and the errors it can answer with."""
    out: dict[int | str, dict[str, Any]] = {}
    success: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "OK")}
    if schema is not None:
        success["content"] = {"application/json": {"schema": _ref(schema)}}
    out[status] = success
    for code in errors:
        out[code] = {
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return out


def binary(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """A response whose body is image bytes."""
    return {status: {"description": description, "content": {OCTET_STREAM: {}}}}


def binary_body() -> dict[str, Any]:
    """A request body of image bytes."""
    schema = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "content": {OCTET_STREAM: {"schema": schema}}}}


def request_body(
    schema: str, media_types: tuple[str, ...] = ("application/json",), required: bool = True
) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {m: {"schema": _ref(schema)} for m in media_types},
        }
    }


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _filter_schema(attr: registry.Attribute, strict: bool) -> dict[str, Any]:
    if attr.filter is Filter.BOOLEAN:
        return {"type": "string", "enum": ["true", "false", "True", "False"]}
    if attr.filter is Filter.INTEGER:
        return {"type": "integer"}
    if attr.filter is Filter.TIME:
        return {"type": "string", "examples": ["lt:2018-10-28T10:00:00Z"]}
    schema: dict[str, Any] = {"type": "string"}
    if strict and attr.enum:
        schema["enum"] = list(attr.enum)
    return schema


def _attribute_filters(strict: bool) -> list[dict[str, Any]]:
    return [
        _param(a.name, _filter_schema(a, strict), a.description)
        for a in registry.filterable()
        if a.kind is not Kind.TAGS
    ]


IMS = "ims"
GLANCE = "glance"
_LIST_PARAMETERS = {IMS: query.IMS_PARAMETERS, GLANCE: query.GLANCE_PARAMETERS}


def list_parameters(face: str) -> dict[str, Any]:
    """The query parameters of one face's list: the attribute filters (the IMS face shows the
    enumerations it checks), then the face's declared parameters (`domain.query`)."""
    params = _attribute_filters(strict=face == IMS)
    params += [_param(p.name, p.schema, p.description) for p in _LIST_PARAMETERS[face].declared]
    return {"parameters": _dedupe(params)}


def _dedupe(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for p in params:
        seen[p["name"]] = p  # later, more specific definitions win
    return list(seen.values())


def _as_written(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    """An attribute's schema in a request body: the API may take shorter values than a
    document holds (a name: 128 characters; an imported one may have 255)."""
    attr = registry.get(name)
    if attr is None or attr.api_max_length is None:
        return prop
    return {**prop, "maxLength": attr.api_max_length}


def components() -> dict[str, Any]:
    """The shared schemas every `$ref` above points to."""

    image = schemas.image_schema(glance=False)
    image.pop("links")
    image.pop("name")
    image["required"] = [
        a.name for a in registry.rendered() if a.presence is registry.Presence.ALWAYS
    ]
    writable = {
        name: _as_written(name, prop)
        for name, prop in image["properties"].items()
        if not prop.get("readOnly") or name == "id"
    }
    member = schemas.member_schema()
    member.pop("name")
    member["required"] = list(member["properties"])
    error_object = {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "code": {"type": "string"},
            "title": {"type": "string"},
        },
        "required": ["message", "code"],
    }
    return {
        "Image": image,
        "ImageCreate": {
            "type": "object",
            "properties": writable,
            "additionalProperties": {"type": "string"},
        },
        "ImageList": {
            "type": "object",
            "properties": {
                "images": {"type": "array", "items": _ref("Image")},
                "first": {"type": "string"},
                "next": {"type": "string"},
                "schema": {"type": "string"},
            },
            "required": ["images", "first", "schema"],
        },
        "CloudImageList": {
            "type": "object",
            "properties": {"images": {"type": "array", "items": _ref("Image")}},
            "required": ["images"],
        },
        "CloudImageUpdate": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "op": {"type": "string", "enum": list(patch.IMS.dialects[0].operations)},
                    "path": {"type": "string", "examples": ["/name"]},
                    "value": {
                        "description": "The new value, a string as IMS documents it (integers "
                        "and booleans may also be sent as JSON values); not needed for `remove`.",
                        "examples": ["ims_test"],
                    },
                },
                "required": ["op", "path"],
            },
        },
        "Member": member,
        "MemberList": {
            "type": "object",
            "properties": {
                "members": {"type": "array", "items": _ref("Member")},
                "schema": {"type": "string"},
            },
            "required": ["members", "schema"],
        },
        "MemberCreate": {
            "type": "object",
            "properties": {"member": {"type": "string"}},
            "required": ["member"],
        },
        "MemberUpdate": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["accepted", "rejected", "pending"]},
                "vault_id": {"type": "string"},
            },
            "required": ["status"],
        },
        "JsonSchema": {"type": "object"},
        "ResourceTag": {
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            "required": ["key", "value"],
        },
        "TagStrings": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["tags"],
        },
        "ImageTags": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": _ref("ResourceTag")}},
            "required": ["tags"],
        },
        "KeyValues": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "values": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["key", "values"],
        },
        "ProjectTags": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": _ref("KeyValues")}},
            "required": ["tags"],
        },
        "ImageTagAdd": {
            "type": "object",
            "properties": {"tag": _ref("ResourceTag")},
            "required": ["tag"],
        },
        "ImageTagBatch": {
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["create", "delete"]},
                "tags": {"type": "array", "items": _ref("ResourceTag")},
            },
            "required": ["action", "tags"],
        },
        "ImageTagDelete": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": _ref("ResourceTag")}},
            "required": ["tags"],
        },
        "ImageTagV1": {
            "type": "object",
            "properties": {
                "image_id": {"type": "string"},
                "tag": {"type": "string", "examples": ["key.value"]},
                "image_tag": _ref("ResourceTag"),
            },
            "required": ["image_id"],
        },
        "JobSubmitted": {
            "type": "object",
            "description": "The asynchronous job a request started: poll "
            "`GET /v1/{project_id}/jobs/{job_id}`.",
            "properties": {"job_id": {"type": "string"}},
            "required": ["job_id"],
        },
        "ExportRequest": {
            "type": "object",
            "properties": {
                "bucket_url": {"type": "string", "examples": ["ims-image:centos7_5.qcow2"]},
                "file_format": {"type": "string", "enum": ["qcow2", "vhd", "vmdk"]},
                "is_quick_export": {"type": "boolean"},
            },
            "required": ["bucket_url"],
        },
        "CopyRequest": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "cmk_id": {"type": "string"},
                "enterprise_project_id": {"type": "string"},
            },
            "required": ["name"],
        },
        "CrossRegionCopyRequest": {
            "type": "object",
            "properties": {
                name: {"type": "string"}
                for name in (
                    "name",
                    "description",
                    "region",
                    "project_name",
                    "agency_name",
                    "vault_id",
                )
            },
            "required": ["name", "region", "project_name", "agency_name"],
        },
        "MemberBatch": {
            "type": "object",
            "properties": {
                "images": {"type": "array", "items": {"type": "string"}},
                "projects": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["images", "projects"],
        },
        "MemberBatchStatus": {
            "type": "object",
            "properties": {
                "images": {"type": "array", "items": {"type": "string"}},
                "project_id": {"type": "string"},
                "status": {"type": "string", "enum": ["accepted", "rejected"]},
                "vault_id": {"type": "string"},
            },
            "required": ["images", "project_id", "status"],
        },
        "TagQuery": {
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["filter", "count"]},
                **{
                    name: {"type": "array", "items": _ref("KeyValues")}
                    for name in ("tags", "tags_any", "not_tags", "not_tags_any")
                },
                "without_any_tag": {"type": "boolean"},
                "limit": {"type": "string", "examples": ["10"]},
                "offset": {"type": "string", "examples": ["0"]},
                "matches": {"type": "array", "items": _ref("ResourceTag")},
            },
            "required": ["action"],
        },
        "TagQueryResult": {
            "type": "object",
            "properties": {
                "total_count": {"type": "integer"},
                "resources": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "resource_id": {"type": "string"},
                            "resource_name": {"type": "string"},
                            "resource_detail": {
                                "type": "object",
                                "properties": {"status": {"type": "string"}},
                            },
                            "tags": {"type": "array", "items": _ref("ResourceTag")},
                        },
                    },
                },
            },
            "required": ["total_count"],
        },
        "OsVersionList": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "platform": {"type": "string"},
                    "version_list": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "platform": {"type": "string"},
                                "os_version_key": {"type": "string"},
                                "os_version": {"type": "string"},
                                "os_bit": {"type": "integer"},
                                "os_type": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
        "Job": {
            "type": "object",
            "description": "An asynchronous job (docs/jobs.md). `begin_time` and `end_time` "
            "are UTC as `2024-11-06T06:19:43.195Z`, empty until reached; `error_code` and "
            "`fail_reason` are null unless the job failed.",
            "properties": {
                "status": {"type": "string", "enum": ["INIT", "RUNNING", "SUCCESS", "FAIL"]},
                "job_id": {"type": "string"},
                "job_type": {"type": "string"},
                "begin_time": {"type": "string"},
                "end_time": {"type": "string"},
                "entities": {
                    "type": "object",
                    "properties": {
                        "image_id": {"type": "string"},
                        "process_percent": {"type": "number"},
                    },
                },
                "error_code": {"type": ["string", "null"]},
                "fail_reason": {"type": ["string", "null"]},
            },
            "required": ["status", "job_id", "job_type", "entities"],
        },
        "ImageQuota": {
            "type": "object",
            "properties": {
                "quotas": {
                    "type": "object",
                    "properties": {
                        "resources": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string"},
                                    "used": {"type": "integer"},
                                    "quota": {"type": "integer"},
                                    "min": {"type": "integer"},
                                    "max": {"type": "integer"},
                                },
                            },
                        }
                    },
                }
            },
            "required": ["quotas"],
        },
        "Versions": {
            "type": "object",
            "properties": {"versions": {"type": "array", "items": {"type": "object"}}},
            "required": ["versions"],
        },
        "Version": {
            "type": "object",
            "properties": {
                "version": {"type": "object"},
                "versions": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["versions"],
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"type": "string"}, "database": {"type": "string"}},
        },
        "Error": {"type": "object", "properties": {"error": error_object}, "required": ["error"]},
        **_CREATING,
    }


def _tag_lists() -> dict[str, Any]:
    return {
        "tags": {"type": "array", "items": {"type": "string", "examples": ["key.value"]}},
        "image_tags": {"type": "array", "items": _ref("ResourceTag")},
    }


_IMAGE_URL = {"type": "string", "examples": ["ims-image:centos70.qcow2"]}
# The creating calls (docs/ims-creating.md): the SDK's request models
_CREATING: dict[str, Any] = {
    "JobAccepted": {
        "type": "object",
        "properties": {"job_id": {"type": "string"}},
        "required": ["job_id"],
    },
    "CreateImageBody": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "image_url": _IMAGE_URL,
            "os_version": {"type": "string", "examples": ["CentOS 7.0 64bit"]},
            "min_disk": {"type": "integer", "minimum": 40, "maximum": 1024},
            "min_ram": {"type": "integer"},
            "max_ram": {"type": "integer"},
            "type": {
                "type": "string",
                "enum": ["ECS", "BMS", "FusionCompute", "Ironic", "IsoImage"],
            },
            "architecture": {"type": "string", "enum": ["x86", "arm"]},
            "hw_firmware_type": {"type": "string", "enum": ["bios", "uefi"]},
            "is_config": {"type": "boolean"},
            "is_quick_import": {"type": "boolean"},
            "cmk_id": {"type": "string"},
            "enterprise_project_id": {"type": "string"},
            "instance_id": {"type": "string"},
            "volume_id": {"type": "string"},
            "data_images": {"type": "array", "items": {"type": "object"}},
            **_tag_lists(),
        },
        "required": ["name"],
    },
    "CreateDataImageBody": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "image_url": _IMAGE_URL,
            "min_disk": {"type": "integer", "minimum": 40, "maximum": 2048},
            "os_type": {"type": "string", "enum": ["Linux", "Windows"]},
            "cmk_id": {"type": "string"},
            "enterprise_project_id": {"type": "string"},
            **_tag_lists(),
        },
        "required": ["name", "image_url", "min_disk"],
    },
    "QuickImportBody": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "image_url": _IMAGE_URL,
            "os_version": {"type": "string"},
            "min_disk": {"type": "integer", "minimum": 1, "maximum": 1024},
            "type": {"type": "string", "enum": ["ECS", "BMS", "DataImage"]},
            "os_type": {"type": "string", "enum": ["Linux", "Windows"]},
            "license_type": {"type": "string", "enum": ["platform", "byol"]},
            "architecture": {"type": "string", "enum": ["x86", "arm"]},
            "hw_firmware_type": {"type": "string", "enum": ["bios", "uefi"]},
            "enterprise_project_id": {"type": "string"},
            **_tag_lists(),
        },
        "required": ["name", "image_url", "min_disk"],
    },
    "RegisterImageBody": {
        "type": "object",
        "properties": {"image_url": _IMAGE_URL},
        "required": ["image_url"],
    },
    "WholeImageBody": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "instance_id": {"type": "string"},
            "backup_id": {"type": "string"},
            "whole_image_type": {"type": "string", "enum": ["CBR", "CSBS"]},
            "vault_id": {"type": "string"},
            "min_ram": {"type": "integer"},
            "max_ram": {"type": "integer"},
            "enterprise_project_id": {"type": "string"},
            **_tag_lists(),
        },
        "required": ["name"],
    },
}


_OPERATION_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": list(patch.V21_OPERATIONS)},
            "path": {"type": "string", "examples": ["/name"]},
            "value": {},
            "from": {"type": "string", "description": "for `move`: the attribute to move"},
        },
        "required": ["op", "path"],
    },
}

_V20_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "description": 'The operation is the key: `{"replace": "/name", "value": "x"}`.',
        "properties": {
            "add": {"type": "string"},
            "remove": {"type": "string"},
            "replace": {"type": "string"},
            "value": {},
        },
    },
}

# `PATCH /v2/images/{id}`: one body schema per Glance JSON-patch media type
GLANCE_PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            patch.V21: {"schema": _OPERATION_SCHEMA},
            patch.V20: {"schema": _V20_SCHEMA},
        },
    }
}
