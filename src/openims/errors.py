"""The error catalogue: every error OpenIMS answers with, in one table, and how each is
written on the wire. Every layer may import it: the domain raises its refusals from here, the
store and the command line classify database failures here, the API renders them.

Each entry has an HTTP status, an IMS error code and a message template. An `ApiError` is
written in the words of the face it was raised on (`body`): IMS paths answer
`{"error": {"message", "code"}}`, Glance paths add the Glance `title`. Codes follow the
IMS error-code table where one fits; gateway-level failures (authentication, unknown route,
oversized requests) use the API gateway's `APIGW` codes, as Huawei Cloud does.

A few refusals differ in status between the faces, not in code or words: Glance answers a
property conflict with 409 and a read-only attribute with 403, while the IMS table lists every
`IMG` code (but the role code IMG.0026) as a 400. Such an entry names its `ims_status`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import sqlalchemy as sa

log = logging.getLogger("openims.errors")


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One catalogue entry. Calling it builds the exception to raise."""

    key: str
    status: int
    code: str
    message: str
    ims_status: int | None = None  # the status on IMS paths, when it is not `status`

    def status_on(self, *, ims: bool) -> int:
        """The HTTP status this error answers with on the IMS face or the Glance one."""
        return self.ims_status if ims and self.ims_status is not None else self.status

    def __call__(self, **params: Any) -> ApiError:
        return ApiError(self, **params)

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class ApiError(Exception):
    """An error with a place in the catalogue; `message` is the filled-in template."""

    def __init__(self, spec: ErrorSpec, **params: Any) -> None:
        self.spec = spec
        self.params = params
        self.message = spec.message.format(**params) if params else spec.message
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return self.spec.status

    @property
    def code(self) -> str:
        return self.spec.code


CATALOGUE: dict[str, ErrorSpec] = {}


def _e(
    key: str, status: int, code: str, message: str, *, ims_status: int | None = None
) -> ErrorSpec:
    spec = ErrorSpec(key, status, code, message, ims_status)
    assert key not in CATALOGUE, key
    CATALOGUE[key] = spec
    return spec


# --- requests in general -------------------------------------------------------------------
MALFORMED_JSON = _e("malformed_json", 400, "IMG.0001", "Malformed JSON in request body.")
BODY_EXPECTED = _e("body_expected", 400, "IMG.0007", "Body expected in request.")
BODY_NOT_OBJECT = _e("body_not_object", 400, "IMG.0001", "Request body must be a JSON object.")
INVALID_FIELD = _e("invalid_field", 400, "IMG.0001", "Invalid value for '{name}': {reason}")
BAD_QUERY = _e("bad_query", 400, "IMG.0001", "{reason}")
PROJECT_MISMATCH = _e(
    "project_mismatch",
    400,
    "IMG.0067",
    "The project ID {project_id} in the path is not the project of the request.",
)
ROUTE_NOT_FOUND = _e(
    "route_not_found",
    404,
    "APIGW.0101",
    "The API does not exist or has not been published in the environment.",
)
METHOD_NOT_ALLOWED = _e(
    "method_not_allowed", 405, "APIGW.0101", "The method {method} is not allowed for this resource."
)
UNSUPPORTED_MEDIA_TYPE = _e(
    "unsupported_media_type",
    415,
    "IMG.0001",
    "The request media type {media_type} is not supported by this server. {expected}",
)
BODY_TOO_LARGE = _e(
    "body_too_large", 413, "APIGW.0201", "Request body is larger than {limit} bytes."
)
# The gateway answers requests it refuses before routing with APIGW.0201, whatever the limit.
MALFORMED_REQUEST = _e("malformed_request", 400, "APIGW.0201", "Invalid HTTP request received.")
URI_TOO_LONG = _e(
    "uri_too_long", 414, "APIGW.0201", "The request {part} is longer than {limit} bytes."
)
HEADERS_TOO_LARGE = _e(
    "headers_too_large", 431, "APIGW.0201", "The request headers are larger than {limit} bytes."
)
REQUEST_TIMEOUT = _e(
    "request_timeout",
    408,
    "APIGW.0201",
    "The request {part} did not arrive within {seconds:g} seconds.",
)
INTERNAL = _e(
    "internal",
    500,
    "IMG.0500",
    "The server has either erred or is incapable of performing the requested "
    "operation. Request ID: {request_id}",
)
DATABASE_UNAVAILABLE = _e(
    "database_unavailable",
    503,
    "IMG.0503",
    "The service is unavailable: the database cannot be reached. Try again later.",
)

# --- quotas (docs/quotas.md) ---------------------------------------------------------------------
# IMS's IMG.0015 ("The number of private images has reached the maximum allowed."), a 400 as
# every IMG code; Glance answers a quota it enforces with 413 (`LimitExceeded`,
# `StorageQuotaFull`). IMS documents no byte quota: the same code says the project's images
# would hold more bytes than it may, in Glance's `StorageQuotaFull` words.
IMAGE_QUOTA_EXCEEDED = _e(
    "image_quota_exceeded",
    413,
    "IMG.0015",
    "The number of private images has reached the maximum allowed: project {project_id} "
    "owns {used} of {quota}.",
    ims_status=400,
)
STORAGE_QUOTA_EXCEEDED = _e(
    "storage_quota_exceeded",
    413,
    "IMG.0015",
    "The size of the data {size} will exceed the limit. {remaining} bytes remaining.",
    ims_status=400,
)

# --- asynchronous jobs (docs/jobs.md) -----------------------------------------------------------
# The IMS table has no code for an unknown job (its job pages document no 404): IMG.0031 is
# its "The resource ID in the request is incorrect."
JOB_NOT_FOUND = _e("job_not_found", 404, "IMG.0031", "No job found with ID {job_id}.")
# a job's own failure reasons, shown as its `error_code`/`fail_reason` (never as a response),
# with the IMS table's "Unknown system error." code
JOB_INTERRUPTED = _e(
    "job_interrupted",
    500,
    "IMG.0061",
    "The job was stopped {attempts} times before it could end (its server went away) and "
    "has been given up.",
)
JOB_FAILED = _e(
    "job_failed",
    500,
    "IMG.0061",
    "The job failed with an internal error. Job ID: {job_id}",
)

# --- images --------------------------------------------------------------------------------
IMAGE_NOT_FOUND = _e("image_not_found", 404, "IMG.0027", "No image found with ID {image_id}")
INVALID_NAME = _e(
    "invalid_name",
    400,
    "IMG.0003",
    "Invalid image name: use 1-128 letters, digits, Chinese characters, spaces, "
    "'-', '.' or '_', not starting or ending with a space.",
)
NAME_INCORRECT = _e(
    "name_incorrect", 400, "IMG.0062", "The image name is incorrect: a name is a string."
)
NAME_TOO_LONG = _e(
    "name_too_long", 400, "IMG.0002", "The image name is longer than 128 characters."
)
INVALID_DESCRIPTION = _e(
    "invalid_description",
    400,
    "IMG.0054",
    "Invalid image description: at most 1024 characters, without carriage returns, '<' or '>'.",
)
DESCRIPTION_TOO_LONG = _e(
    "description_too_long", 400, "IMG.0004", "The image description is longer than 1024 characters."
)
INVALID_SIZE = _e("invalid_size", 400, "IMG.0055", "Invalid value for '{name}': {reason}")
INVALID_OS_TYPE = _e("invalid_os_type", 400, "IMG.0122", "Invalid value for '{name}': {reason}")
INVALID_FIRMWARE = _e(
    "invalid_firmware",
    400,
    "IMG.0141",
    "Invalid value for '{name}': hw_firmware_type must be uefi or bios.",
)
INVALID_IMAGETYPE = _e("invalid_imagetype", 400, "IMG.0024", "The imagetype is invalid.")
IMAGE_ID_EXISTS = _e(
    "image_id_exists", 409, "IMG.0009", "An image with ID {image_id} already exists."
)
IMAGE_PROTECTED = _e(
    "image_protected", 403, "IMG.0028", "Image {image_id} is protected and cannot be deleted."
)
FORBIDDEN_ACTION = _e(
    "forbidden_action", 403, "IMG.0026", "You are not authorized to complete {action} action."
)
OWNER_ONLY = _e("owner_only", 403, "IMG.0047", "Only the owner of image {image_id} may do this.")
IMAGE_NOT_ACTIVE = _e(
    "image_not_active",
    400,
    "IMG.0046",
    "Image {image_id} is {status}: only active images can be updated.",
)
ATTRIBUTE_READ_ONLY = _e(
    "attribute_read_only", 403, "IMG.0105", "Attribute '{name}' is read-only.", ims_status=400
)
ATTRIBUTE_RESERVED = _e(
    "attribute_reserved", 403, "IMG.0105", "Attribute '{name}' is reserved.", ims_status=400
)

# --- PATCH /v2/images/{id} (JSON Patch; Glance's messages without its HTML tail) ----------
PATCH_NOT_A_LIST = _e(
    "patch_not_a_list", 400, "IMG.0001", "Request body must be a JSON array of operation objects."
)
PATCH_OPERATION_NOT_OBJECT = _e(
    "patch_operation_not_object", 400, "IMG.0001", "Operations must be JSON objects."
)
PATCH_TOO_MANY_OPERATIONS = _e(
    "patch_too_many_operations",
    413,
    "IMG.0001",
    "A patch may hold at most {limit} operations; this one holds {count}.",
)
PATCH_OP_MISSING = _e(
    "patch_op_missing",
    400,
    "IMG.0001",
    "Unable to find `op` in JSON Schema change. It must be one of the following: {available}.",
)
PATCH_OP_INVALID = _e(
    "patch_op_invalid",
    400,
    "IMG.0001",
    "Invalid operation: `{op}`. It must be one of the following: {available}.",
)
PATCH_V20_OP_NONE = _e(
    "patch_v20_op_none",
    400,
    "IMG.0001",
    'Operation objects must contain exactly one member named "add", "remove", or "replace".',
)
PATCH_V20_OP_MANY = _e(
    "patch_v20_op_many",
    400,
    "IMG.0001",
    'Operation objects must contain only one member named "add", "remove", or "replace".',
)
PATCH_PATH_MISSING = _e(
    "patch_path_missing", 400, "IMG.0001", "Unable to find '{member}' in JSON Schema change"
)
PATCH_VALUE_MISSING = _e(
    "patch_value_missing", 400, "IMG.0001", 'Operation "{op}" requires a member named "{member}".'
)
POINTER_NO_LEADING_SLASH = _e(
    "pointer_no_leading_slash", 400, "IMG.0001", 'Pointer `{pointer}` does not start with "/".'
)
POINTER_TRAILING_SLASH = _e(
    "pointer_trailing_slash", 400, "IMG.0001", 'Pointer `{pointer}` end with "/".'
)
POINTER_ADJACENT_SLASHES = _e(
    "pointer_adjacent_slashes", 400, "IMG.0001", 'Pointer `{pointer}` contains adjacent "/".'
)
POINTER_NO_TOKEN = _e(
    "pointer_no_token", 400, "IMG.0001", "Pointer `{pointer}` does not contains valid token."
)
POINTER_BAD_ESCAPE = _e(
    "pointer_bad_escape",
    400,
    "IMG.0001",
    'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.',
)
POINTER_TOO_DEEP = _e(
    "pointer_too_deep", 400, "IMG.0001", "Invalid JSON pointer for this resource: '{pointer}'"
)
PROPERTY_MISSING = _e(
    "property_missing", 409, "IMG.0035", "Property {name} does not exist.", ims_status=400
)
PROPERTY_PRESENT = _e(
    "property_present", 409, "IMG.0035", "Property {name} already present.", ims_status=400
)
ATTRIBUTE_NOT_UPDATABLE = _e(
    "attribute_not_updatable",
    400,
    "IMG.0105",
    "Attribute '{name}' cannot be updated by the IMS update API.",
)
ATTRIBUTE_CONFLICT = _e(
    "attribute_conflict",
    409,
    "IMG.0035",
    "Attribute '{name}' cannot co-exist with '{other}'.",
    ims_status=400,
)
PROPERTY_NOT_REMOVABLE = _e(
    "property_not_removable", 403, "IMG.0105", "Property {name} may not be removed.", ims_status=400
)
ADMIN_ONLY_ATTRIBUTE = _e(
    "admin_only_attribute", 403, "IMG.0026", "{label} can't be updated by non admin."
)
NULL_VALUE = _e(
    "null_value",
    400,
    "IMG.0001",
    "Invalid value for '{name}': null is not allowed (remove the attribute instead).",
)

# --- tags and members ----------------------------------------------------------------------
INVALID_TAG = _e("invalid_tag", 400, "IMG.0115", "Invalid tag: {reason}")
IMS_TOO_MANY_TAGS = _e(
    "ims_too_many_tags", 400, "IMG.0116", "An image can have at most {limit} tags."
)
TOO_MANY_TAGS = _e("too_many_tags", 413, "IMG.0116", "An image may have at most {limit} tags.")

# --- queries -------------------------------------------------------------------------------
INVALID_ARCHITECTURE = _e(
    "invalid_architecture", 400, "IMG.0212", "The architecture must be x86 or arm."
)
INVALID_FLAVOR = _e(
    "invalid_flavor", 400, "IMG.0192", "The flavor {flavor_id} used to query images is invalid."
)
MARKER_NOT_FOUND = _e("marker_not_found", 400, "IMG.0027", "No image found with ID {image_id}")
TAG_NOT_FOUND = _e("tag_not_found", 404, "IMG.0115", "Tag {tag} not found")
MEMBER_NOT_FOUND = _e(
    "member_not_found", 404, "IMG.0144", "Member {member_id} not found for image {image_id}"
)
MEMBER_EXISTS = _e(
    "member_exists", 409, "IMG.0035", "Member {member_id} already exists for image {image_id}."
)
PUBLIC_NOT_SHAREABLE = _e(
    "public_not_shareable", 403, "IMG.0089", "Public images cannot be shared."
)
SHARE_WITH_SELF = _e(
    "share_with_self", 400, "IMG.0076", "An image cannot be shared with its own project."
)
TOO_MANY_MEMBERS = _e(
    "too_many_members", 413, "IMG.0088", "An image can be shared with at most {limit} projects."
)

# --- exporting and copying images (docs/ims-export-copy.md) ---------------------------------
# IMS's codes and words from its error-code table; synchronous refusals of a request, and a
# job's `error_code`/`fail_reason` when the job fails.
EXPORT_FORMAT_UNSUPPORTED = _e(
    "export_format_unsupported",
    400,
    "IMG.0072",
    "The specified image format is not supported: {reason}",
)
EXPORT_PUBLIC = _e("export_public", 400, "IMG.0077", "The public image cannot be exported.")
EXPORT_WHOLE_IMAGE = _e(
    "export_whole_image", 400, "IMG.0128", "The full-ECS image cannot be exported."
)
EXPORT_TOO_LARGE = _e(
    "export_too_large",
    400,
    "IMG.0160",
    "Only images smaller than {limit} GB can be exported without is_quick_export.",
)
EXPORT_FILE_TOO_LARGE = _e(
    "export_file_too_large",
    400,
    "IMG.0059",
    "The size of the image file exceeds the maximum allowed: {reason}",
)
EXPORT_OBJECT_EXISTS = _e(
    "export_object_exists",
    400,
    "IMG.0070",
    "The image file already exists. Confirm the file in the corresponding directory of the "
    "OBS bucket or in the OBS bucket: {name}",
)
EXPORT_RUNNING = _e("export_running", 400, "IMG.0148", "The image is being exported.")
EXPORT_CONVERSION_FAILED = _e(
    "export_conversion_failed",
    500,
    "IMG.0071",
    "The image cannot be exported: {reason}",
)
ISO_NOT_SUPPORTED = _e(
    "iso_not_supported", 400, "IMG.0167", "This operation cannot be performed for ISO images."
)
IMAGE_UNAVAILABLE = _e(
    "image_unavailable",
    400,
    "IMG.0046",
    "The image is unavailable: image {image_id} is {status}, and only an active image can "
    "be {action}.",
)
COPY_WHOLE_IMAGE = _e(
    "copy_whole_image", 400, "IMG.0130", "The full-ECS image cannot be exported or replicated."
)
COPY_PUBLIC = _e(
    "copy_public", 400, "IMG.0083", "The image is a public image: {image_id} cannot be copied."
)
COPY_NOT_ACCEPTED = _e(
    "copy_not_accepted",
    400,
    "IMG.0196",
    "The image cannot be replicated because it is not accepted by the recipient.",
)
REGION_UNKNOWN = _e(
    "region_unknown",
    400,
    "IMG.0108",
    "The tenant ID was not found in region {region}: this deployment serves only region {own}.",
)
REGION_SAME = _e(
    "region_same",
    400,
    "IMG.0105",
    "The operation is not supported: the destination region {region} is the image's own "
    "region; use copy_image_in_region.",
)
BATCH_SHARING_UNSUPPORTED = _e(
    "batch_sharing_unsupported",
    400,
    "IMG.0105",
    "The operation is not supported: sharing with {what} (this deployment shares with "
    "projects only).",
)

# --- authentication ------------------------------------------------------------------------
# image data: uploads and downloads
STATUS_TRANSITION = _e(
    "status_transition",
    409,
    "IMG.0310",
    "Image status transition from {current} to {target} is not allowed",
)
FORMATS_REQUIRED = _e(
    "formats_required",
    400,
    "IMG.0311",
    "Properties disk_format, container_format must be set prior to saving data.",
)
IMAGE_TOO_LARGE = _e(
    "image_too_large",
    413,
    "IMG.0312",
    "The incoming image is too large: an image may hold at most {limit} bytes.",
)
BODY_INCOMPLETE = _e(
    "body_incomplete",
    400,
    "IMG.0313",
    "The request body ended early: {received} of the {expected} bytes its Content-Length "
    "announced arrived.",
)
IMAGE_FORMAT_MISMATCH = _e(
    "image_format_mismatch",
    400,
    "IMG.0314",
    "Image disk_format {disk_format} does not match stream data {detected}",
)
IMAGE_UNSAFE = _e(
    "image_unsafe",
    400,
    "IMG.0315",
    "Image failed safety checks: the {disk_format} image fails {checks}",
)
IMAGE_DEACTIVATED = _e(
    "image_deactivated",
    403,
    "IMG.0316",
    "The requested image has been deactivated. Image data download is forbidden.",
)
IMAGE_STORE_UNAVAILABLE = _e(
    "image_store_unavailable",
    503,
    "IMG.0317",
    "The image store is unavailable; try again later.",
)
UPLOAD_LOST = _e(
    "upload_lost",
    409,
    "IMG.0318",
    "The upload to image {image_id} was given up (its image changed or was deleted meanwhile).",
)
# image data: import
# Glance 33's words (../shared/spec/glance-data-behaviour.md, section 4) without its HTML tail.
IMPORT_METHOD_MISSING = _e(
    "import_method_missing", 400, "IMG.0320", "Import request requires a 'method' field."
)
IMPORT_METHOD_NAME_MISSING = _e(
    "import_method_name_missing", 400, "IMG.0320", "Import request requires a 'name' field."
)
IMPORT_METHOD_UNKNOWN = _e(
    "import_method_unknown", 400, "IMG.0321", "Unknown import method name '{name}'."
)
IMPORT_URI_FILTERED = _e(
    "import_uri_filtered",
    400,
    "IMG.0322",
    "URI for web-download does not pass filtering: {uri}",
)
IMPORT_BAD_FIELD = _e("import_bad_field", 400, "IMG.0320", "'{name}' {reason}")
IMPORT_STORE_NOT_FOUND = _e(
    "import_store_not_found", 409, "IMG.0323", "Store for identifier {store} not found"
)
IMPORT_TARGET_STATUS = _e(
    "import_target_status",
    409,
    "IMG.0324",
    "Image with status {status} cannot be target for import",
)
IMPORT_NOT_STAGED = _e(
    "import_not_staged",
    409,
    "IMG.0325",
    "Image needs to be staged before 'glance-direct' method can be used",
)
IMPORT_NOT_QUEUED = _e(
    "import_not_queued",
    409,
    "IMG.0326",
    "Image needs to be in 'queued' state to use '{method}' method",
)
IMPORT_FETCH_FAILED = _e(
    "import_fetch_failed", 502, "IMG.0327", "web-download of image {image_id} failed: {reason}"
)
STORES_DETAIL_FORBIDDEN = _e(
    "stores_detail_forbidden",
    403,
    "IMG.0026",
    "You are not authorized to complete stores_info_detail action.",
)

UNAUTHORIZED = _e("unauthorized", 401, "APIGW.0301", "Incorrect IAM authentication information.")

# image data: ranges
# Glance's words for a `Range` it cannot serve (webob's parse, then Glance's own checks), without
# the HTML between its title and its explanation. 416 carries no `Content-Range: bytes */size`,
# as Glance sends none.
_RANGE_NOT_AVAILABLE = "The Range requested is not available."
RANGE_INVALID = _e(
    "range_invalid", 416, "IMG.0001", f"{_RANGE_NOT_AVAILABLE} Invalid Range header."
)
RANGE_START_INVALID = _e(
    "range_start_invalid",
    416,
    "IMG.0001",
    f"{_RANGE_NOT_AVAILABLE} Invalid start position in Range header. "
    "Start position MUST be in the inclusive range [0, {last}].",
)
RANGE_MULTIPLE = _e(
    "range_multiple",
    400,
    "IMG.0001",
    "Requests with multiple ranges are not supported in Glance. "
    "You may make multiple single-range requests instead.",
)


# --- the IMS object storage (`image_url`, `bucket_url`: docs/ims-creating.md) ---------------
# IMS's own codes and words (its error-code table) for a bad or missing OBS object.
OBS_URL_INVALID = _e("obs_url_invalid", 400, "IMG.0017", "The URL format is incorrect: {reason}.")
OBS_BUCKET_EMPTY = _e("obs_bucket_empty", 400, "IMG.0068", "The specified bucket name is empty.")
OBS_BUCKET_INVALID = _e(
    "obs_bucket_invalid", 400, "IMG.0109", "The bucket name contains invalid characters: {bucket}"
)
OBS_BUCKET_NOT_FOUND = _e(
    "obs_bucket_not_found", 400, "IMG.0069", "The specified bucket cannot be accessed: {bucket}"
)
OBS_OBJECT_NOT_FOUND = _e(
    "obs_object_not_found",
    400,
    "IMG.0057",
    "The image file does not exist, is empty, or in the incorrect format: {name}",
)
OBS_OBJECT_IS_FOLDER = _e(
    "obs_object_is_folder", 400, "IMG.0017", "The URL format is incorrect: {name} is a folder."
)
OBS_UNAVAILABLE = _e(
    "obs_unavailable", 503, "IMG.0040", "The object storage is unavailable; try again later."
)

# --- creating images (docs/ims-creating.md) -------------------------------------------------
# IMS's codes and words (its error-code table). OpenIMS has no compute, disk, backup or key
# service: a request naming one of those resources gets the error IMS answers when it does
# not exist.
NAME_MISSING = _e("name_missing", 400, "IMG.0013", "The image name is not specified.")
OS_VERSION_INVALID = _e(
    "os_version_invalid", 400, "IMG.0056", "The OS version is invalid: {os_version}"
)
INSTANCE_NOT_FOUND = _e(
    "instance_not_found", 400, "IMG.0005", "The ECS does not exist: {instance_id}"
)
INSTANCE_ID_MISSING = _e("instance_id_missing", 400, "IMG.0012", "The ECS ID is not specified.")
VOLUME_NOT_FOUND = _e(
    "volume_not_found", 400, "IMG.0120", "The specified data disk ID is unavailable: {volume_id}"
)
BACKUP_NOT_FOUND = _e("backup_not_found", 400, "IMG.0020", "The backup does not exist: {backup_id}")
CBR_BACKUP_NOT_FOUND = _e(
    "cbr_backup_not_found",
    400,
    "IMG.0198",
    "Backup ID does not match the backup type or does not exist: {backup_id}",
)
# (the export branch defines the same entry, same key and words: keep one when both are merged)
KMS_KEY_NOT_FOUND = _e(
    "kms_key_not_found",
    400,
    "IMG.0095",
    "The KMS key does not exist: {cmk_id} (this deployment has no key management service).",
)
BMS_NO_ENCRYPTION = _e(
    "bms_no_encryption", 400, "IMG.0118", "The BMS image does not support KMS encryption."
)
IMAGE_FILE_INVALID = _e(
    "image_file_invalid",
    400,
    "IMG.0057",
    "The image file does not exist, is empty, or in the incorrect format: {name}: {reason}",
)
IMAGE_FILE_TOO_LARGE = _e(
    "image_file_too_large",
    400,
    "IMG.0059",
    "The size of the image file exceeds the maximum allowed: {name} holds {size} bytes, "
    "at most {limit} are allowed.",
)

# --- on the wire ---------------------------------------------------------------------------
# IMS paths answer `{"error": {"message", "code"}}`, as the IMS error-code page shows. Glance
# paths answer the same object plus Glance's `title`: a nested object is the shape
# python-glanceclient, openstacksdk and the IMS SDK all parse (glanceclient reads `message`
# from every top-level value, so a flat body would break it). The face also picks the status
# of the few refusals whose status IMS and Glance disagree on (`ErrorSpec.ims_status`).
# The IMS extension paths are `/v1/...` (`/v1/cloudimages/...`, `/v1/{project_id}/...`), the
# query and update `/v2/cloudimages...`, the v2.1 "safe mode" calls `/v2.1/cloudimages/...`,
# and the project-scoped `/v2/{project_id}/images/...` of the IMS tag API (an empty project
# too: URL parsing drops a project ID of only tabs or line breaks); every other
# `/v2/<segment>` path is Glance's. A project ID may also be one of Glance's segments
# (`/v2/images/images/tags` lists the tags of project `images`): such a path is the IMS
# route's unless it is Glance's schema of images or a route of Glance's image `images`
# (`/v2/images/images/file`), as routing decides (tests/api/test_error_faces.py).
IMS_PREFIXES = ("/v2/cloudimages", "/v2.1/cloudimages", "/v1/")
GLANCE_V2_SEGMENTS = frozenset({"images", "schemas", "info", "tasks", "cloudimages"})
# what follows `/v2/images/{image_id}/` on Glance's routes: one segment, or two
_GLANCE_IMAGE_ONE = frozenset({"file", "import", "stage", "members"})
_GLANCE_IMAGE_TWO = frozenset({"members", "tags"})


def is_ims_path(path: str) -> bool:
    if path.startswith(IMS_PREFIXES) or path == "/v1":
        return True
    parts = path.split("/", 4)
    # ["", "v2", project_id, "images", rest]
    if len(parts) < 4 or parts[1] != "v2" or parts[3] != "images":
        return False
    if parts[2] not in GLANCE_V2_SEGMENTS:
        return True
    if len(parts) == 4:  # Glance's image `images`, or its schema of images
        return False
    if parts[2] != "images":
        return True
    rest = parts[4].split("/")
    return not (
        (len(rest) == 1 and rest[0] in _GLANCE_IMAGE_ONE)
        or (len(rest) == 2 and rest[0] in _GLANCE_IMAGE_TWO)
    )


def status(err: ApiError, path: str) -> int:
    """The status `err` answers with on `path`'s face (`ErrorSpec.ims_status`)."""
    return err.spec.status_on(ims=is_ims_path(path))


def body(err: ApiError, path: str) -> bytes:
    content: dict[str, Any] = {"message": err.message, "code": err.code}
    if not is_ims_path(path):
        content["title"] = err.spec.title
    return orjson.dumps({"error": content})


def headers(err: ApiError) -> dict[str, str]:
    """Headers an error response carries besides its body: when to come back after a 503, and
    `Connection: close` after a 408 (the rest of that request may still be on its way)."""
    if err.status == 503:
        return {"Retry-After": "5"}
    if err.status == 408:
        return {"Connection": "close"}
    return {}


# --- failures that are not refusals ----------------------------------------------------------
def database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean "the database cannot be reached right now": the API answers
    them 503, the command line with one line."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    if isinstance(exc, ConnectionError | asyncio.TimeoutError | OSError):
        return True
    name = type(exc).__module__ + "." + type(exc).__name__
    return name.startswith("asyncpg.") and "Connection" in name


def unexpected(exc: BaseException, request_id: str) -> ApiError:
    """The catalogue error for an exception nothing else handled."""
    if database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return DATABASE_UNAVAILABLE()
    log.error("unhandled error, request %s", request_id, exc_info=exc)
    return INTERNAL(request_id=request_id)
