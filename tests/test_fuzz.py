"""Fuzzing one running sidecar with arbitrary bytes, JSON values and near-valid requests.

After every example a probe request must get its response, every line on stdout
since the example began must be a valid JSON-RPC message, and the process
must still run. At the end a create must work, and every task in the file
must have been announced.
"""

from __future__ import annotations

import itertools
import json
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar_process import SidecarProcess

METHODS = [
    "create-marketing-task",
    "estimate-audience",
    "upsert-contacts",
    "list-marketing-tasks",
    "get-marketing-task",
    "list-events",
    "get-status",
    "rpc.discover",
]
FIELD_NAMES = [
    "name", "audience", "source", "tags", "groups", "contactIds", "minIntentScore", "recentDays",
    "estimatedAudience", "messageTemplate", "scheduledAt", "clientRequestId", "afterSeq", "limit",
    "cursor", "status", "id", "contacts", "externalId", "intentScore",
]
ERROR_CODES = {
    "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "VALIDATION_FAILED", "INTERNAL_ERROR",
    "DATABASE_NOT_READY", "DATABASE_BUSY", "DATABASE_UNAVAILABLE", "IDEMPOTENCY_CONFLICT", "NOT_FOUND",
}

FUZZ_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text that may contain lone surrogates, which json.dumps escapes as \udXXX.
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
    | st.sampled_from(["2.0", "recent", "manual", "2026-12-05T09:00:00+08:00", "2026-12-05T09:00:00"])
)
keys = st.sampled_from(FIELD_NAMES) | any_text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
request_ids = st.none() | st.integers(min_value=-(2**60), max_value=2**60) | any_text | st.floats(allow_nan=False, allow_infinity=False)
near_requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2])},
    optional={
        "id": request_ids,
        "method": st.sampled_from(METHODS) | any_text,
        "params": json_values,
        "extra": json_values,
    },
)
# Creates that are often valid, with a few shared clientRequestIds, so that
# commits, replays and conflicts happen among the garbage.
audiences = st.fixed_dictionaries(
    {"source": st.sampled_from(["recent", "tag", "group", "manual"])},
    optional={
        "tags": st.lists(any_text, max_size=3),
        "groups": st.lists(any_text, max_size=3),
        "contactIds": st.lists(any_text, max_size=3),
        "minIntentScore": st.integers(min_value=-5, max_value=105),
        "recentDays": st.integers(min_value=0, max_value=400),
    },
)
create_params = st.fixed_dictionaries(
    {"name": any_text, "audience": audiences},
    optional={
        "clientRequestId": st.sampled_from(["key-1", "key-2", "key-3"]) | any_text,
        "messageTemplate": any_text,
        "scheduledAt": st.sampled_from(["2026-12-05T09:00:00+05:45", "2026-12-05T09:00:00", "0001-01-01T00:00:00+14:00"]) | any_text,
        "estimatedAudience": st.integers(min_value=-1, max_value=2**64),
    },
)
creates = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.just("create-marketing-task"), "params": create_params},
    optional={"id": request_ids},
)
lines = (
    st.binary(max_size=300).map(lambda data: data.replace(b"\n", b" "))
    | json_values.map(json.dumps)
    | near_requests.map(json.dumps)
    | creates.map(json.dumps)
    | st.lists(near_requests | creates | json_values, max_size=8).map(json.dumps)
)


def check_error(error: dict) -> None:
    assert isinstance(error["code"], int)
    assert isinstance(error["message"], str)
    assert error["data"]["success"] is False
    assert error["data"]["error"]["code"] in ERROR_CODES


def check_response(message: dict) -> None:
    assert message.get("jsonrpc") == "2.0", message
    assert "id" in message, message
    assert ("result" in message) != ("error" in message), message
    if "error" in message:
        check_error(message["error"])
    elif isinstance(message["result"], dict) and "openrpc" not in message["result"]:
        assert message["result"]["success"] is True


def check_line(raw: bytes) -> None:
    """Fail unless raw is one JSON-RPC response, a batch of them, or a notification."""
    assert raw.endswith(b"\n"), raw[:200]
    assert raw.count(b"\n") == 1, raw[:200]
    message = json.loads(raw)
    if isinstance(message, list):
        assert message, "an empty batch response is never sent"
        for member in message:
            check_response(member)
    elif "method" in message:
        assert message.get("jsonrpc") == "2.0"
        assert isinstance(message["method"], str) and isinstance(message["params"], dict)
        assert "id" not in message
    else:
        check_response(message)


def probe(process: SidecarProcess, request_id: str) -> None:
    """Send a request after the fuzz input and wait for its response, so that all output of the input is in."""
    process.send_request("get-status", {}, request_id=request_id)
    response, _ = process.read_response(request_id)
    assert response["result"]["state"] == "ready"


def send_and_check(process: SidecarProcess, data: bytes, probe_ids) -> None:
    checked = len(process.raw_lines)

    process.send_bytes(data)
    probe(process, f"probe-{next(probe_ids)}")

    assert process.process.poll() is None
    for raw in process.raw_lines[checked:]:
        check_line(raw)


def encode_line(line: bytes | str) -> bytes:
    return (line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")) + b"\n"


def test_fuzz_barrage_then_create(spawn, db_path):
    """Fuzz lines, then raw bytes with newlines anywhere, then a create that must work and be stored."""
    process = spawn(db_path, "--log-level", "warning")
    process.wait_ready()
    probe_ids = itertools.count()

    @FUZZ_SETTINGS
    @given(payload=st.lists(lines, min_size=1, max_size=4))
    def fuzz_lines(payload):
        send_and_check(process, b"".join(map(encode_line, payload)), probe_ids)

    @FUZZ_SETTINGS
    @given(data=st.binary(min_size=1, max_size=3000))
    def fuzz_raw_bytes(data):
        send_and_check(process, data + b"\n", probe_ids)

    fuzz_lines()
    fuzz_raw_bytes()
    result = process.call("create-marketing-task", {"name": "after the barrage", "audience": {"source": "recent"}})
    process.read_until(lambda m: m.get("method") == "marketing-task-created")

    announced = set()
    for raw in process.raw_lines:
        message = json.loads(raw)
        if isinstance(message, dict) and message.get("method") == "marketing-task-created":
            announced.add(message["params"]["task"]["id"])
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        stored = {row[0] for row in connection.execute("SELECT id FROM marketing_tasks")}
        event_tasks = [row[0] for row in connection.execute("SELECT task_id FROM marketing_events")]
    finally:
        connection.close()
    assert result["task"]["id"] in stored
    assert stored == announced, "every stored task was announced, and nothing else"
    assert sorted(event_tasks) == sorted(stored)
