"""Hostile and odd input over real pipes: each gets its typed error, and the sidecar keeps serving.

Most tests share one sidecar, because booting one costs about half a second.
Each test ends by checking that it still responds. Where JSON-RPC 2.0 leaves a
choice, the docstring states the one made.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from sidecar_process import SidecarProcess

MIB = 1024 * 1024
# Generous for any error object; a response that echoed its input would be
# hundreds of kilobytes.
MAX_ERROR_RESPONSE_BYTES = 8 * 1024


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    process = SidecarProcess(tmp_path_factory.mktemp("inputs") / "marketing.db", "--locale", "en")
    process.wait_ready()
    yield process
    process.__exit__(None, None, None)


def assert_serving(process: SidecarProcess) -> None:
    result = process.call("get-status")
    assert result["state"] == "ready"


def send_line(process: SidecarProcess, line: bytes) -> dict:
    """Send one raw NDJSON line that expects exactly one response; return it."""
    lines_before = len(process.raw_lines)
    process.send_bytes(line + b"\n")
    response = process.read_message()
    assert len(process.raw_lines) == lines_before + 1, process.raw_lines[lines_before:]
    return response


def error_of(response: dict) -> dict:
    assert "error" in response, response
    return response["error"]["data"]["error"]


def raw_line_of(process: SidecarProcess, response: dict) -> bytes:
    matches = [line for line in process.raw_lines if json.loads(line) == response]
    assert matches, response
    return matches[-1]


def request_line(method: str, params, request_id=1, **extra) -> bytes:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params, **extra}
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def create_params(**fields) -> dict:
    return {"name": "input test", "audience": {"source": "recent"}, **fields}


def stored_task_count(db_path) -> int:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT COUNT(*) FROM marketing_tasks").fetchone()[0]
    finally:
        connection.close()


# --- bytes that are not a request ---------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"this is not json", id="not-json"),
        pytest.param(b'{"jsonrpc": "2.0", "id": 1, "method": "get-status"', id="truncated"),
        pytest.param(b"\xff\xfe\x00{}", id="invalid-utf8"),
        pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"get-status","params":{"x":"\xc3\x28"}}', id="invalid-utf8-in-string"),
        pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"get-status","params":{"x":NaN}}', id="nan"),
        pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"get-status","params":{"x":-Infinity}}', id="infinity"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000"),
        pytest.param(
            b'{"jsonrpc":"2.0","id":1,"method":"get-status","params":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
            id="nested-100000-in-params",
        ),
        pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"get-status","params":{"x":' + b"9" * 5000 + b"}}", id="5000-digit-integer"),
    ],
)
def test_unparsable_line_gets_parse_error(shared, line):
    response = send_line(shared, line)

    assert error_of(response)["code"] == "PARSE_ERROR"
    assert response["error"]["code"] == -32700
    assert response["id"] is None
    assert len(raw_line_of(shared, response)) < MAX_ERROR_RESPONSE_BYTES
    assert_serving(shared)


def test_message_over_limit_is_skipped(shared):
    line = request_line("get-status", {"padding": "a" * (2 * MIB)}, request_id=7)

    response = send_line(shared, line)

    assert error_of(response)["code"] == "INVALID_REQUEST"
    assert response["id"] is None
    assert len(raw_line_of(shared, response)) < MAX_ERROR_RESPONSE_BYTES
    assert_serving(shared)


def test_message_limit_follows_flag(spawn, db_path):
    process = spawn(db_path, "--max-message-bytes", "2000")
    process.wait_ready()

    small = send_line(process, request_line("get-status", {}, request_id=1))
    large = send_line(process, request_line("get-status", {"padding": "a" * 3000}, request_id=2))

    assert small["result"]["success"] is True
    assert error_of(large)["code"] == "INVALID_REQUEST"
    assert_serving(process)


def test_deep_nesting_within_parser_limit(shared):
    """JSON nested 500 deep parses; the unknown field is then the error, with the id."""
    nested = b"[" * 500 + b"]" * 500
    line = b'{"jsonrpc":"2.0","id":31,"method":"get-status","params":{"deep":' + nested + b"}}"

    response = send_line(shared, line)

    assert error_of(response)["code"] == "VALIDATION_FAILED"
    assert response["id"] == 31
    assert_serving(shared)


# --- values that parse but that no method can take ----------------------------


@pytest.mark.parametrize(
    ("line", "path"),
    [
        pytest.param(b'{"jsonrpc":"2.0","id":41,"method":"list-events","params":{"afterSeq":1e999}}', "afterSeq", id="1e999"),
        pytest.param(
            b'{"jsonrpc":"2.0","id":41,"method":"create-marketing-task","params":{"name":"a\\ud800b","audience":{"source":"recent"}}}',
            "name",
            id="lone-surrogate",
        ),
        pytest.param(
            b'{"jsonrpc":"2.0","id":41,"method":"create-marketing-task","params":{"name":"x","audience":{"source":"manual","contactIds":["ok","\\udc00"]}}}',
            "audience.contactIds.1",
            id="lone-surrogate-in-list",
        ),
        pytest.param(
            b'{"jsonrpc":"2.0","id":41,"method":"get-marketing-task","params":{"id":99999999999999999999999}}',
            "id",
            id="integer-over-64-bits",
        ),
    ],
)
def test_unusable_value_fails_validation_with_id(shared, line, path):
    """Valid JSON that no method can take is VALIDATION_FAILED with the request's id, so the caller is not left waiting."""
    tasks_before = stored_task_count(shared_db(shared))

    response = send_line(shared, line)

    assert response["id"] == 41
    info = error_of(response)
    assert info["code"] == "VALIDATION_FAILED"
    assert [field["path"] for field in info["fields"]] == [path]
    assert stored_task_count(shared_db(shared)) == tasks_before
    assert_serving(shared)


def shared_db(process: SidecarProcess):
    return process.call("get-status")["dbPath"]


# --- ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_id", "expected"),
    [
        (b"0", 0),
        (b'""', ""),
        (b"null", None),
        (b'"0012345678901234567890"', "0012345678901234567890"),
        (b"9007199254740993", 9007199254740993),
        (b'"\xe6\xb5\x8b\xe8\xaf\x95"', "测试"),
        (b"-5", -5),
    ],
)
def test_response_keeps_id_exactly(shared, raw_id, expected):
    line = b'{"jsonrpc":"2.0","method":"get-status","params":{},"id":' + raw_id + b"}"

    response = send_line(shared, line)

    assert response["result"]["success"] is True
    assert response["id"] == expected
    assert type(response["id"]) is type(expected)
    raw = raw_line_of(shared, response)
    expected_raw = json.dumps(expected).encode("ascii")
    assert raw.rstrip(b"\n").endswith(b'"id":' + expected_raw + b"}"), raw


@pytest.mark.parametrize(
    "raw_id",
    [b"true", b"[1]", b'{"a":1}', b"1e999"],
)
def test_invalid_id_gets_invalid_request_with_null_id(shared, raw_id):
    line = b'{"jsonrpc":"2.0","method":"get-status","params":{},"id":' + raw_id + b"}"

    response = send_line(shared, line)

    assert error_of(response)["code"] == "INVALID_REQUEST"
    assert response["id"] is None
    assert_serving(shared)


# --- request shape -------------------------------------------------------------


def test_params_array_is_validation_failed(shared):
    response = send_line(shared, request_line("list-events", [0, 10], request_id=51))

    assert error_of(response)["code"] == "VALIDATION_FAILED"
    assert response["id"] == 51


def test_empty_params_array_means_no_params(shared):
    response = send_line(shared, request_line("get-status", [], request_id=52))

    assert response["result"]["success"] is True


def test_extra_top_level_member_is_ignored(shared):
    line = b'{"jsonrpc":"2.0","id":53,"method":"get-status","params":{},"trace":{"span":"abc"},"meta":1e999}'

    response = send_line(shared, line)

    assert response["result"]["success"] is True
    assert response["id"] == 53


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "1.0", "id": 54, "method": "get-status"},
        {"id": 54, "method": "get-status"},
        {"jsonrpc": "2.0", "id": 54, "method": 5},
        {"jsonrpc": "2.0", "id": 54, "method": "get-status", "params": "text"},
        {"jsonrpc": "2.0", "id": 54, "method": "get-status", "params": None},
    ],
)
def test_malformed_request_keeps_valid_id(shared, message):
    response = send_line(shared, json.dumps(message).encode())

    assert error_of(response)["code"] == "INVALID_REQUEST"
    assert response["id"] == 54


def test_unknown_method_is_method_not_found(shared):
    response = send_line(shared, request_line("drop-all-tables", {}, request_id=55))

    assert error_of(response)["code"] == "METHOD_NOT_FOUND"
    assert response["error"]["code"] == -32601


# --- params validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "path"),
    [
        pytest.param("create-marketing-task", create_params(colour="red"), "colour", id="unknown-field"),
        pytest.param("create-marketing-task", create_params(name="     "), "name", id="name-only-spaces"),
        pytest.param("create-marketing-task", create_params(name="\u3000\u3000"), "name", id="name-only-ideographic-spaces"),
        pytest.param("create-marketing-task", create_params(name="a" * 101), "name", id="name-101-chars"),
        pytest.param("create-marketing-task", create_params(name="测" * 101), "name", id="name-101-cjk"),
        pytest.param(
            "create-marketing-task", create_params(scheduledAt="2026-12-05T09:00:00"), "scheduledAt", id="scheduled-without-offset"
        ),
        pytest.param(
            "create-marketing-task", create_params(scheduledAt="0001-01-01T00:00:00+14:00"), "scheduledAt", id="scheduled-before-year-1-utc"
        ),
        pytest.param("list-events", {"afterSeq": -1}, "afterSeq", id="after-seq-negative"),
        pytest.param("list-events", {"afterSeq": "5"}, "afterSeq", id="after-seq-string"),
    ],
)
def test_invalid_params_name_the_field(shared, method, params, path):
    response = send_line(shared, request_line(method, params, request_id=61))

    assert response["id"] == 61
    info = error_of(response)
    assert info["code"] == "VALIDATION_FAILED"
    assert path in [field["path"] for field in info["fields"]]
    assert_serving(shared)


@pytest.mark.parametrize(
    "name",
    [pytest.param("测" * 100, id="100-cjk"), pytest.param("😀" * 100, id="100-emoji"), pytest.param("a" * 100, id="100-ascii")],
)
def test_name_of_100_characters_is_accepted(shared, name):
    """Length counts characters (code points), not UTF-8 bytes or UTF-16 units."""
    response, _ = shared.request("create-marketing-task", create_params(name=name))
    notification, _ = shared.read_until(lambda m: m.get("method") == "marketing-task-created")

    assert response["result"]["task"]["name"] == name
    assert notification["params"]["task"]["name"] == name


def test_contact_ids_over_limit_rejected(shared):
    ids = [f"c{index}" for index in range(100_001)]
    params = {"audience": {"source": "manual", "contactIds": ids}}

    response = send_line(shared, request_line("estimate-audience", params, request_id=63))

    info = error_of(response)
    assert info["code"] == "VALIDATION_FAILED"
    assert [field["path"] for field in info["fields"]] == ["audience.contactIds"]
    assert len(raw_line_of(shared, response)) < MAX_ERROR_RESPONSE_BYTES


def test_contact_ids_at_limit_accepted(shared):
    ids = [f"c{index}" for index in range(100_000)]
    params = {"audience": {"source": "manual", "contactIds": ids}}

    response = send_line(shared, request_line("estimate-audience", params, request_id=64))

    assert response["result"]["estimatedAudience"] == 100_000


# --- errors stay small -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params"),
    [
        pytest.param("create-marketing-task", create_params(**{"k" * 500_000: 1}), id="huge-unknown-key"),
        pytest.param("create-marketing-task", create_params(name="n" * 900_000), id="huge-name"),
        pytest.param(
            "create-marketing-task",
            {"name": "x", "audience": {"source": "manual", "contactIds": list(range(90_000))}},
            id="90000-invalid-items",
        ),
        pytest.param("m" * 900_000, {}, id="huge-method-name"),
    ],
)
def test_error_never_echoes_large_input(shared, method, params):
    response = send_line(shared, request_line(method, params, request_id=71))

    assert response["id"] == 71
    assert "error" in response
    assert len(raw_line_of(shared, response)) < MAX_ERROR_RESPONSE_BYTES
    assert_serving(shared)


# --- notifications and batches -------------------------------------------------


def test_client_notifications_get_no_bytes(shared):
    notifications = [
        {"jsonrpc": "2.0", "method": "get-status"},
        {"jsonrpc": "2.0", "method": "no-such-method", "params": {}},
        {"jsonrpc": "2.0", "method": "list-events", "params": {"afterSeq": -1}},
        {"jsonrpc": "2.0", "method": "list-events", "params": [1, 2]},
        {"jsonrpc": "2.0", "method": "create-marketing-task", "params": {"name": "\ud800"}},
    ]
    lines_before = len(shared.raw_lines)
    payload = b"".join(json.dumps(item).encode() + b"\n" for item in notifications)

    shared.send_bytes(payload + request_line("get-status", {}, request_id=81) + b"\n")
    response = shared.read_message()

    assert response["id"] == 81
    assert shared.raw_lines[lines_before:] == [raw_line_of(shared, response)]


def test_empty_batch_is_one_invalid_request(shared):
    response = send_line(shared, b"[]")

    assert isinstance(response, dict)
    assert error_of(response)["code"] == "INVALID_REQUEST"
    assert response["id"] is None


def test_batch_of_1000_answers_each(shared):
    batch = [{"jsonrpc": "2.0", "id": f"b{index}", "method": "get-status"} for index in range(1000)]

    response = send_line(shared, json.dumps(batch).encode())

    assert isinstance(response, list)
    assert sorted(item["id"] for item in response) == sorted(f"b{index}" for index in range(1000))
    assert all(item["result"]["success"] for item in response)


def test_batch_over_1000_rejected(shared):
    batch = [{"jsonrpc": "2.0", "id": index, "method": "get-status"} for index in range(1001)]

    response = send_line(shared, json.dumps(batch).encode())

    assert error_of(response)["code"] == "INVALID_REQUEST"
    assert_serving(shared)


def test_batch_of_only_notifications_gets_no_bytes(shared):
    batch = [{"jsonrpc": "2.0", "method": "get-status"} for _ in range(3)]
    lines_before = len(shared.raw_lines)

    shared.send_bytes(json.dumps(batch).encode() + b"\n" + request_line("get-status", {}, request_id=82) + b"\n")
    response = shared.read_message()

    assert response["id"] == 82
    assert len(shared.raw_lines) == lines_before + 1


def test_batch_member_errors_stay_with_member(sidecar, db_path):
    """A bad member gets its own error; the valid members, the notification among them, run, commit and notify."""
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "create-marketing-task", "params": create_params(name="batch A")},
        {"jsonrpc": "2.0", "id": "bad", "method": "create-marketing-task", "params": create_params(name="  ")},
        {"jsonrpc": "2.0", "id": "b", "method": "create-marketing-task", "params": create_params(name="batch B")},
        {"jsonrpc": "2.0", "method": "create-marketing-task", "params": create_params(name="batch C")},
        5,
        {"jsonrpc": "2.0", "id": "missing", "method": "no-such-method"},
    ]

    sidecar.send_bytes(json.dumps(batch).encode() + b"\n")
    response = sidecar.read_message()
    notifications = [sidecar.read_message() for _ in range(3)]

    by_id = {}
    for item in response:
        by_id.setdefault(item["id"], []).append(item)
    assert len(response) == 5
    assert by_id["a"][0]["result"]["task"]["name"] == "batch A"
    assert by_id["b"][0]["result"]["task"]["name"] == "batch B"
    assert error_of(by_id["bad"][0])["code"] == "VALIDATION_FAILED"
    assert error_of(by_id[None][0])["code"] == "INVALID_REQUEST"
    assert error_of(by_id["missing"][0])["code"] == "METHOD_NOT_FOUND"
    assert [n["method"] for n in notifications] == ["marketing-task-created"] * 3
    assert [n["params"]["task"]["name"] for n in notifications] == ["batch A", "batch B", "batch C"]
    assert stored_task_count(db_path) == 3
