"""The stable error codes: pinned to the protocol table, produced over the pipes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sidecar.errors import ALL_CODES
from sidecar.messages import SUPPORTED_LOCALES, _USER_MESSAGES

PROTOCOL = Path(__file__).resolve().parents[2] / "shared" / "PROTOCOL.md"


def protocol_error_table() -> dict[str, int]:
    if not PROTOCOL.exists():
        pytest.skip("the shared protocol text is not beside this checkout")
    rows = re.findall(r"^\| ([A-Z_]+) \| (-\d+) \|", PROTOCOL.read_text(encoding="utf-8"), re.MULTILINE)
    return {name: int(code) for name, code in rows}


def test_codes_match_protocol_table():
    assert {code.name: code.rpc_code for code in ALL_CODES} == protocol_error_table()


def test_only_busy_is_retryable():
    assert [code.name for code in ALL_CODES if code.retryable] == ["DATABASE_BUSY"]


def test_every_code_has_text_in_every_locale():
    for code in ALL_CODES:
        for locale in SUPPORTED_LOCALES:
            assert _USER_MESSAGES[code.name][locale].strip(), (code.name, locale)


def error_of(sidecar, raw: bytes) -> dict:
    sidecar.send_bytes(raw)
    response = sidecar.read_message()
    return response


def test_protocol_errors_over_pipes(sidecar):
    not_json = error_of(sidecar, b"{oops\n")
    assert not_json["error"]["code"] == -32700
    assert not_json["error"]["data"]["error"]["code"] == "PARSE_ERROR"
    assert not_json["id"] is None

    not_request = error_of(sidecar, b'{"jsonrpc": "1.0", "id": 4, "method": "get-status"}\n')
    assert not_request["error"]["data"]["error"]["code"] == "INVALID_REQUEST"
    assert not_request["id"] == 4

    unknown = error_of(sidecar, b'{"jsonrpc": "2.0", "id": 5, "method": "delete-everything"}\n')
    assert unknown["error"]["code"] == -32601
    assert unknown["error"]["data"]["error"]["code"] == "METHOD_NOT_FOUND"


def test_method_errors_over_pipes(sidecar):
    invalid = sidecar.call_error("create-marketing-task", {"name": "x" * 101, "audience": {"source": "recent", "minIntentScore": 101}})
    assert invalid["code"] == "VALIDATION_FAILED"
    assert {field["path"] for field in invalid["fields"]} == {"name", "audience.minIntentScore"}

    missing = sidecar.call_error("get-marketing-task", {"id": 42})
    assert missing["code"] == "NOT_FOUND"

    params = {"name": "a", "audience": {"source": "recent"}, "clientRequestId": "same-key"}
    sidecar.call("create-marketing-task", params)
    sidecar.read_message()
    conflict = sidecar.call_error("create-marketing-task", {**params, "name": "b"})
    assert conflict["code"] == "IDEMPOTENCY_CONFLICT"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("zh-TW", "找不到此行銷任務。"), ("zh-CN", "找不到此营销任务。"), ("en", "This marketing task was not found.")],
)
def test_user_message_follows_locale(spawn, db_path, locale, expected):
    sidecar = spawn(db_path, "--locale", locale)
    sidecar.wait_ready()
    error = sidecar.call_error("get-marketing-task", {"id": 1})
    assert error["userMessage"] == expected
    assert error["message"] == "Marketing task 1 does not exist"


def test_degraded_sidecar_answers_data_methods_not_ready(spawn, tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    sidecar = spawn(garbage)
    boot, _ = sidecar.wait_boot()
    assert boot["method"] == "sidecar-degraded"
    assert boot["params"]["error"]["code"] == "DATABASE_UNAVAILABLE"

    error = sidecar.call_error("create-marketing-task", {"name": "a", "audience": {"source": "recent"}})
    assert error["code"] == "DATABASE_NOT_READY"
    invalid_params = sidecar.call_error("get-marketing-task", {"id": 0})
    assert invalid_params["code"] == "DATABASE_NOT_READY"
    assert sidecar.call("get-status", {})["state"] == "degraded"
    assert garbage.read_bytes() == b"this is not a database" * 100


@pytest.mark.parametrize("cursor", ["YmVmb3JlOsKz", "not-a-cursor", "YmVmb3JlOi0x", ""])
def test_foreign_cursor_is_validation_error(sidecar, cursor):
    # "YmVmb3JlOsKz" is "before:" and a superscript three, a digit to
    # str.isdigit that int() rejects.
    error = sidecar.call_error("list-marketing-tasks", {"cursor": cursor})
    assert error["code"] == "VALIDATION_FAILED"
    assert [field["path"] for field in error["fields"]] == ["cursor"]
