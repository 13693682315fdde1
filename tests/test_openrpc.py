"""The OpenRPC document is valid, lists the whole protocol, and is what rpc.discover returns.

The meta-schema comes from the npm package @open-rpc/meta-schema, pinned in
tests/node/package-lock.json. It declares "$schema":
"https://meta.json-schema.tools/", the JSON Schema dialect of
@json-schema-tools/meta-schema (also pinned), whose keywords are draft-07's
(definitions, dependencies, additionalItems). jsonschema does not know that
URI, so the validator is Draft7Validator, given both documents in a registry
so that nothing is fetched over the network.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import referencing
from referencing.jsonschema import DRAFT7

REPOSITORY = Path(__file__).resolve().parents[1]
OPENRPC_FILE = REPOSITORY / "schemas" / "json" / "openrpc.json"
SCHEMA_FOLDER = REPOSITORY / "schemas" / "json"
JSON_SCHEMA_TOOLS_URI = "https://meta.json-schema.tools/"

# The method list and error table of protocol version 1.
PROTOCOL_METHODS = {
    "create-marketing-task",
    "estimate-audience",
    "upsert-contacts",
    "list-marketing-tasks",
    "get-marketing-task",
    "get-status",
    "list-events",
    "rpc.discover",
    "shutdown",
}
PROTOCOL_NOTIFICATIONS = {"migration-progress", "sidecar-ready", "sidecar-degraded", "marketing-task-created"}
PROTOCOL_ERROR_CODES = {
    "PARSE_ERROR": -32700,
    "INVALID_REQUEST": -32600,
    "METHOD_NOT_FOUND": -32601,
    "VALIDATION_FAILED": -32602,
    "INTERNAL_ERROR": -32603,
    "DATABASE_NOT_READY": -32001,
    "DATABASE_BUSY": -32002,
    "DATABASE_UNAVAILABLE": -32003,
    "IDEMPOTENCY_CONFLICT": -32004,
    "NOT_FOUND": -32005,
}

# The package is CommonJS, and its module.exports contains the document as openrpcDocument.
PRINT_META_SCHEMA = (
    'import metaSchema from "@open-rpc/meta-schema";'
    "process.stdout.write(JSON.stringify(metaSchema.openrpcDocument));"
)


def load_document() -> dict[str, Any]:
    return json.loads(OPENRPC_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def openrpc_validator(node_project) -> jsonschema.Draft7Validator:
    completed = subprocess.run(
        ["node", "--input-type=module", "-e", PRINT_META_SCHEMA],
        cwd=node_project,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    meta_schema = json.loads(completed.stdout)
    assert meta_schema["$schema"] == JSON_SCHEMA_TOOLS_URI, "the meta-schema changed dialect; revisit the validator class"

    tools_path = node_project / "node_modules" / "@json-schema-tools" / "meta-schema" / "schema.json"
    json_schema_tools = DRAFT7.create_resource(json.loads(tools_path.read_text(encoding="utf-8")))
    # The OpenRPC meta-schema refers to it without the trailing slash.
    registry = referencing.Registry().with_resources(
        [(JSON_SCHEMA_TOOLS_URI, json_schema_tools), (JSON_SCHEMA_TOOLS_URI.rstrip("/"), json_schema_tools)]
    )
    return jsonschema.Draft7Validator(meta_schema, registry=registry)


def iter_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_openrpc_document_fits_meta_schema(openrpc_validator):
    errors = sorted(openrpc_validator.iter_errors(load_document()), key=lambda error: list(error.absolute_path))

    assert not errors, f"{errors[0].message[:500]} at {list(errors[0].absolute_path)}"


@pytest.mark.parametrize(
    "breakage",
    ["method without params", "schema with unknown type", "unknown top-level member"],
)
def test_meta_schema_rejects_broken_document(openrpc_validator, breakage):
    document = load_document()
    if breakage == "method without params":
        del document["methods"][0]["params"]
    elif breakage == "schema with unknown type":
        document["methods"][0]["params"][0]["schema"] = {"type": "text"}
    else:
        document["notifications"] = []

    assert list(openrpc_validator.iter_errors(document))


def test_openrpc_lists_every_protocol_method():
    names = [method["name"] for method in load_document()["methods"]]

    assert len(names) == len(set(names))
    assert set(names) == PROTOCOL_METHODS


def test_openrpc_lists_every_notification():
    notifications = load_document()["x-notifications"]
    names = [notification["name"] for notification in notifications]

    assert len(names) == len(set(names))
    assert set(names) == PROTOCOL_NOTIFICATIONS
    for notification in notifications:
        assert notification["params"], notification["name"]


def test_openrpc_error_codes_match_protocol():
    for method in load_document()["methods"]:
        for error in method["errors"]:
            assert error["message"] in PROTOCOL_ERROR_CODES, (method["name"], error)
            assert error["code"] == PROTOCOL_ERROR_CODES[error["message"]], (method["name"], error)


def test_openrpc_params_match_params_schemas():
    for method in load_document()["methods"]:
        if method["name"] == "rpc.discover":
            assert method["params"] == []
            continue
        schema = json.loads((SCHEMA_FOLDER / f"{method['name']}.params.json").read_text(encoding="utf-8"))
        described = {param["name"]: param["required"] for param in method["params"]}

        assert list(described) == list(schema.get("properties", {})), method["name"]
        assert {name for name, required in described.items() if required} == set(schema.get("required", [])), method["name"]


def test_openrpc_local_refs_resolve():
    document = load_document()

    refs = set(iter_refs(document))

    assert refs, "the document uses components"
    for ref in refs:
        assert ref.startswith("#/"), f"{ref} points outside the document"
        resolve_pointer(document, ref)


def test_rpc_discover_returns_checked_in_document(sidecar):
    response, _ = sidecar.request("rpc.discover", {})

    assert "error" not in response, response
    assert response["result"] == load_document()
    assert "success" not in response["result"], "OpenRPC requires the bare document"
