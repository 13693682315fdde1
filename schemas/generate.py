"""Write the JSON Schema files under json/ from the pydantic models.

Run `python -m sidecar.schemas.generate` after changing schemas/models.py;
a test fails while the checked-in files differ from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sidecar.schemas.models import METHOD_MODELS, NOTIFICATION_MODELS, ErrorData, WireModel
from sidecar.schemas.openrpc import build_openrpc

SCHEMA_FOLDER = Path(__file__).resolve().parent / "json"
OPENRPC_FILE = "openrpc.json"
GENERATED_NOTE = "Generated from schemas/models.py by `python -m sidecar.schemas.generate`; do not edit."


def _schema(model: type[WireModel], mode: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode=mode)
    return {
        "$comment": GENERATED_NOTE,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": title,
    }


def build_schemas() -> dict[str, dict[str, Any]]:
    """Return every schema file's name and content."""
    files: dict[str, dict[str, Any]] = {}
    for method, (params_model, result_model) in METHOD_MODELS.items():
        files[f"{method}.params.json"] = _schema(params_model, "validation", f"{method} params")
        files[f"{method}.result.json"] = _schema(result_model, "serialization", f"{method} result")
    for notification, params_model in NOTIFICATION_MODELS.items():
        files[f"{notification}.notification.json"] = _schema(params_model, "serialization", f"{notification} params")
    files["error.data.json"] = _schema(ErrorData, "serialization", "error data (ErrorInfo envelope)")
    # OpenRPC allows only x- extension members beside its own.
    files[OPENRPC_FILE] = {**build_openrpc(), "x-generated": GENERATED_NOTE}
    return files


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_schemas(folder: Path = SCHEMA_FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = build_schemas()
    for stale in folder.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, schema in files.items():
        path = folder / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    for path in write_schemas():
        print(path.name, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
