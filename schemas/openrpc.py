"""Build the OpenRPC document of the protocol from the wire models.

Server-to-client notifications have no place in OpenRPC 1.x, so they are
listed under the extension member "x-notifications", each with its params
schema. The document's description explains that member.
"""

from __future__ import annotations

from typing import Any

from sidecar import __version__
from sidecar.errors import ALL_CODES
from sidecar.schemas.models import METHOD_MODELS, NOTIFICATION_MODELS, ErrorData, WireModel

OPENRPC_VERSION = "1.3.2"
PROTOCOL_VERSION = "1"

METHOD_SUMMARIES = {
    "create-marketing-task": "Create a marketing task whose targets are the contacts its audience resolves to now.",
    "estimate-audience": "Return the screen's rule-of-thumb estimate and the real count of an audience.",
    "upsert-contacts": "Insert or update contacts by externalId, all or nothing.",
    "list-marketing-tasks": "List tasks newest first, one keyset page at a time.",
    "get-marketing-task": "Return one task by id.",
    "get-status": "Return the database state and the applied and pending migrations, without writing.",
    "list-events": "Return stored notifications about data after a seq, to catch up after a restart.",
    "shutdown": "Finish the request in hand, close the database and exit 0.",
    "rpc.discover": "Return this OpenRPC document.",
}

# Codes each method can return besides the ones every call can.
_COMMON_CODES = ("PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "VALIDATION_FAILED", "INTERNAL_ERROR")
_DATA_CODES = ("DATABASE_NOT_READY", "DATABASE_BUSY", "DATABASE_UNAVAILABLE")
METHOD_ERROR_CODES = {
    "create-marketing-task": _DATA_CODES + ("IDEMPOTENCY_CONFLICT",),
    "estimate-audience": _DATA_CODES,
    "upsert-contacts": _DATA_CODES,
    "list-marketing-tasks": _DATA_CODES,
    "get-marketing-task": _DATA_CODES + ("NOT_FOUND",),
    "get-status": (),
    "list-events": _DATA_CODES,
    "shutdown": (),
    "rpc.discover": (),
}


def _component_schema(model: type[WireModel], mode: str, definitions: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode=mode, ref_template="#/components/schemas/{model}")
    definitions.update(schema.pop("$defs", {}))
    return schema


def _content_descriptors(model: type[WireModel], definitions: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _component_schema(model, "validation", definitions)
    required = set(schema.get("required", []))
    return [
        {"name": name, "required": name in required, "schema": property_schema}
        for name, property_schema in schema.get("properties", {}).items()
    ]


def _error_objects(method: str) -> list[dict[str, Any]]:
    names = _COMMON_CODES + METHOD_ERROR_CODES[method]
    codes = [code for code in ALL_CODES if code.name in names]
    return [
        {"code": code.rpc_code, "message": code.name, "data": {"$ref": "#/components/schemas/ErrorData"}}
        for code in codes
    ]


def build_openrpc() -> dict[str, Any]:
    definitions: dict[str, Any] = {}
    methods = []
    for name, (params_model, result_model) in METHOD_MODELS.items():
        methods.append(
            {
                "name": name,
                "summary": METHOD_SUMMARIES[name],
                "paramStructure": "by-name",
                "params": _content_descriptors(params_model, definitions),
                "result": {"name": f"{name} result", "schema": _component_schema(result_model, "serialization", definitions)},
                "errors": _error_objects(name),
            }
        )
    methods.append(
        {
            "name": "rpc.discover",
            "summary": METHOD_SUMMARIES["rpc.discover"],
            "description": "The one result without the success envelope: OpenRPC requires the bare document.",
            "paramStructure": "by-name",
            "params": [],
            "result": {"name": "OpenRPC document", "schema": {"type": "object"}},
            "errors": _error_objects("rpc.discover"),
        }
    )

    notifications = [
        {"name": name, "params": _component_schema(model, "serialization", definitions)}
        for name, model in NOTIFICATION_MODELS.items()
    ]
    definitions["ErrorData"] = _component_schema(ErrorData, "serialization", definitions)

    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "Marketing sidecar protocol",
            "version": f"{PROTOCOL_VERSION} (sidecar {__version__})",
            "description": (
                "JSON-RPC 2.0 over stdio between the desktop shell and the marketing sidecar. "
                "Every error's data is ErrorData; error messages here name the stable code. "
                "The extension member x-notifications lists the notifications the sidecar sends, "
                "each with the JSON Schema of its params."
            ),
        },
        "methods": methods,
        "components": {"schemas": dict(sorted(definitions.items()))},
        "x-notifications": notifications,
    }



