"""The TypeScript declarations in schemas/typescript/ match the JSON Schemas and compile.

json-schema-to-typescript (pinned in tests/node/package-lock.json) writes one
.d.ts per file in schemas/json/ and an index.d.ts. After regenerating the
JSON Schemas with `python -m sidecar.schemas.generate`, regenerate the
declarations with:

    cd tests/node && npm ci && npm run generate-types
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
DECLARATION_FOLDER = REPOSITORY / "schemas" / "typescript"
SCHEMA_FOLDER = REPOSITORY / "schemas" / "json"
NODE_TIMEOUT = 300
REGENERATE = "cd tests/node && npm run generate-types"


def run_node(node_project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", *args],
        cwd=node_project,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=NODE_TIMEOUT,
    )


def test_declarations_are_current(node_project, tmp_path):
    completed = run_node(node_project, "generate-types.mjs", str(tmp_path))
    assert completed.returncode == 0, completed.stderr

    fresh = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.glob("*.d.ts")}
    checked_in = {path.name: path.read_text(encoding="utf-8") for path in DECLARATION_FOLDER.glob("*.d.ts")}

    assert sorted(checked_in) == sorted(fresh), f"schemas/typescript/ lists other files; run: {REGENERATE}"
    for name, text in fresh.items():
        assert checked_in[name] == text, f"schemas/typescript/{name} is stale; run: {REGENERATE}"


def test_declaration_for_every_schema():
    expected = {path.name.removesuffix(".json") + ".d.ts" for path in SCHEMA_FOLDER.glob("*.json") if path.name != "openrpc.json"}

    assert expected | {"index.d.ts"} == {path.name for path in DECLARATION_FOLDER.glob("*.d.ts")}


def test_declarations_say_they_are_generated():
    for path in DECLARATION_FOLDER.glob("*.d.ts"):
        first_line = path.read_text(encoding="utf-8").splitlines()[0]

        assert first_line.startswith("// Generated from schemas/json/"), path.name
        assert "`npm run generate-types` in tests/node" in first_line, path.name


def test_declarations_and_bridge_compile(node_project):
    # tsconfig.json covers the declarations, the bridge's JSDoc types and
    # types-usage.ts, whose @ts-expect-error lines must each stay an error.
    tsc = node_project / "node_modules" / "typescript" / "bin" / "tsc"

    completed = run_node(node_project, str(tsc), "--noEmit", "-p", "tsconfig.json")

    assert completed.returncode == 0, completed.stdout + completed.stderr
