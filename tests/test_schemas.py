"""The JSON Schema files are current, and real messages fit them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from sidecar.schemas.generate import SCHEMA_FOLDER, build_schemas, render

REPOSITORY_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "json"


def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_FOLDER / name).read_text(encoding="utf-8"))


def assert_fits(instance: object, schema_name: str) -> None:
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{schema_name}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_checked_in_schemas_are_current():
    expected = build_schemas()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in REPOSITORY_SCHEMAS.glob("*.json")}

    assert sorted(on_disk) == sorted(expected), "run: python -m sidecar.schemas.generate"
    for name, schema in expected.items():
        assert on_disk[name] == render(schema), f"{name} is stale; run: python -m sidecar.schemas.generate"


def test_schema_files_are_valid_json_schema():
    for name in build_schemas():
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def test_real_messages_fit_their_schemas(spawn, db_path):
    sidecar = spawn(db_path)
    boot, before = sidecar.wait_boot()
    for progress in before:
        assert_fits(progress["params"], "migration-progress.notification.json")
    assert_fits(boot["params"], "sidecar-ready.notification.json")

    calls = [
        ("upsert-contacts", {"contacts": [{"externalId": "c1", "tags": ["vip"], "lastContactedAt": "2026-12-01T08:00:00+08:00"}]}),
        ("estimate-audience", {"audience": {"source": "tag", "tags": ["vip"]}}),
        ("create-marketing-task", {"name": "測試", "audience": {"source": "tag", "tags": ["vip"]}, "clientRequestId": "k1"}),
        ("list-marketing-tasks", {"limit": 1}),
        ("get-marketing-task", {"id": 1}),
        ("list-events", {"afterSeq": 0}),
        ("get-status", {}),
    ]
    notifications = []
    for method, params in calls:
        assert_fits(params, f"{method}.params.json")
        response, before = sidecar.request(method, params)
        notifications += before
        assert_fits(response["result"], f"{method}.result.json")

    assert [n["method"] for n in notifications] == ["marketing-task-created"]
    assert_fits(notifications[0]["params"], "marketing-task-created.notification.json")

    response, _ = sidecar.request("get-marketing-task", {"id": 999})
    assert_fits(response["error"]["data"], "error.data.json")
    response, _ = sidecar.request("create-marketing-task", {"name": " ", "audience": {"source": "tag"}})
    assert_fits(response["error"]["data"], "error.data.json")

    assert_fits({}, "shutdown.params.json")
    response, _ = sidecar.request("shutdown", {})
    assert_fits(response["result"], "shutdown.result.json")


def test_degraded_boot_fits_its_schema(spawn, tmp_path):
    folder_as_db = tmp_path / "a-folder"
    folder_as_db.mkdir()
    sidecar = spawn(folder_as_db)
    boot, _ = sidecar.wait_boot()
    assert boot["method"] == "sidecar-degraded"
    assert_fits(boot["params"], "sidecar-degraded.notification.json")
    status = sidecar.call("get-status", {})
    assert_fits(status, "get-status.result.json")
    assert "fields" not in status["error"]


@pytest.mark.parametrize(
    "invalid",
    [
        {"name": "x"},
        {"name": "", "audience": {"source": "recent"}},
        {"name": "x", "audience": {"source": "recent"}, "extra": 1},
        {"name": "x", "audience": {"source": "recent", "minIntentScore": 101}},
    ],
)
def test_params_schema_rejects_invalid_create(invalid):
    # The rule that tags, groups or contactIds be non-empty for their source
    # lives in a model validator that the JSON Schema does not express.
    validator = jsonschema.Draft202012Validator(load_schema("create-marketing-task.params.json"))
    assert list(validator.iter_errors(invalid))
