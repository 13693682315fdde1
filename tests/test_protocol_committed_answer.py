"""A committed task always gets its success response.

Over pipes: values that naive serialization chokes on (characters outside the
BMP, NUL, line separators, odd UTC offsets) are stored and returned intact.
In process: when building the response fails after the commit, the response
is rebuilt from the stored task instead of becoming an internal error.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timezone

import pytest

from sidecar.boot.startup import boot_database
from sidecar.dispatch import dispatcher as dispatcher_module
from sidecar.dispatch.context import ServerContext
from sidecar.dispatch.dispatcher import Dispatcher
from sidecar.services.tasks import TaskService
from sidecar.storage.timefmt import utc_now_text
from sidecar_process import SidecarProcess

ODD_TEXTS = [
    "😀 emoji",
    "👩‍👩‍👧‍👦 family",
    "🇹🇼🇨🇳 flags",
    "𠮷野家 (U+20BB7)",
    "nul\x00inside",
    "line\u2028and\u2029paragraph separators",
    "e\u0301 combining, \u200f rtl mark",
    "\U0010ffff last code point",
    "\uffff noncharacter",
    '"quotes" and \\backslashes\\ and </script>',
]

ODD_OFFSETS = [
    "2026-12-05T09:00:00+05:45",
    "2026-12-05T09:00:00-00:30",
    "2026-12-05T09:00:00+14:00",
    "2026-12-05T09:00:00-12:00",
    "2026-12-05T09:00:00+23:59",
    "2026-12-05T09:00:00.987654+08:00",
    "2028-02-29T23:30:00-01:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T23:00:00+05:00",
    "2026-12-05T09:00:00Z",
    "2026-12-05 09:00:00+08:00",
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    process = SidecarProcess(tmp_path_factory.mktemp("committed") / "marketing.db")
    process.wait_ready()
    yield process
    process.__exit__(None, None, None)


def expected_utc(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    # The year is padded by hand: strftime's %Y gives "1", not "0001", on Linux.
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stored_row(db_path: str, task_id: int) -> tuple:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT name, message_template, scheduled_at FROM marketing_tasks WHERE id = ?", (task_id,)
        ).fetchone()
    finally:
        connection.close()


def create_and_read_back(process: SidecarProcess, params: dict) -> tuple[dict, dict, dict, dict]:
    """Create a task; return its response task, notification, get-marketing-task task and event."""
    response, _ = process.request("create-marketing-task", params)
    assert "result" in response, response
    task = response["result"]["task"]
    notification, _ = process.read_until(lambda m: m.get("method") == "marketing-task-created")
    fetched = process.call("get-marketing-task", {"id": task["id"]})["task"]
    events = process.call("list-events", {"afterSeq": notification["params"]["seq"] - 1, "limit": 1})["events"]
    return task, notification["params"], fetched, events[0]


# --- over pipes --------------------------------------------------------------------


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_text_answered_and_stored(shared, text):
    name = text[:100]
    params = {"name": name, "audience": {"source": "recent"}, "messageTemplate": text * 3}

    task, notification, fetched, event = create_and_read_back(shared, params)

    assert task["name"] == name.strip()
    assert task["messageTemplate"] == text * 3
    assert notification["task"] == task
    assert fetched == task
    assert event["payload"]["task"] == task
    db_path = shared.call("get-status")["dbPath"]
    assert stored_row(db_path, task["id"])[:2] == (name.strip(), text * 3)


@pytest.mark.parametrize("scheduled_at", ODD_OFFSETS)
def test_odd_offset_answered_in_utc(shared, scheduled_at):
    params = {"name": "odd offset", "audience": {"source": "recent"}, "scheduledAt": scheduled_at}

    task, notification, fetched, event = create_and_read_back(shared, params)

    assert task["scheduledAt"] == expected_utc(scheduled_at)
    assert task["status"] == "scheduled"
    assert notification["task"] == task
    assert fetched == task
    assert event["payload"]["task"] == task


def test_emoji_in_batch_members(shared):
    batch = [
        {"jsonrpc": "2.0", "id": index, "method": "create-marketing-task",
         "params": {"name": f"{text[:90]} {index}", "audience": {"source": "recent"}}}
        for index, text in enumerate(ODD_TEXTS)
    ]

    shared.send(batch)
    response = shared.read_message()

    assert sorted(item["id"] for item in response) == list(range(len(ODD_TEXTS)))
    assert all(item["result"]["success"] for item in response)


# --- in process: failures after the commit ---------------------------------------------


@pytest.fixture
def dispatcher(db_path):
    report = boot_database(db_path, lambda name, index, total: None)
    assert report.ready, report.error
    context = ServerContext(locale="en", version="test", boot=report, reboot=lambda: report, now=utc_now_text)
    yield Dispatcher(context)
    report.database.close()


def create_body(request_id=1, name="after commit 😀") -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": "create-marketing-task",
            "params": {"name": name, "audience": {"source": "recent"}, "scheduledAt": "2026-12-05T09:00:00+05:45"}}


def stored_task(dispatcher: Dispatcher, task_id: int) -> dict:
    return TaskService(dispatcher.context.database, utc_now_text).get(task_id)["task"]


def task_count(dispatcher: Dispatcher) -> int:
    return dispatcher.context.database.execute_sql("SELECT COUNT(*) FROM marketing_tasks").fetchone()[0]


def fail_first_success_encoding(monkeypatch) -> None:
    real_encode = dispatcher_module.encode_message
    failures = []

    def encode(message):
        if isinstance(message, dict) and "result" in message and not failures:
            failures.append(message)
            raise ValueError("simulated failure while encoding the response")
        return real_encode(message)

    monkeypatch.setattr(dispatcher_module, "encode_message", encode)


def test_encoding_failure_after_commit_answers_success(dispatcher, monkeypatch, caplog):
    fail_first_success_encoding(monkeypatch)

    with caplog.at_level(logging.WARNING):
        body, notifications = dispatcher.handle(json.dumps(create_body()).encode())

    response = json.loads(body)
    assert response["id"] == 1
    assert response["result"]["replayed"] is False
    assert response["result"]["task"] == stored_task(dispatcher, response["result"]["task"]["id"])
    assert [n.method for n in notifications] == ["marketing-task-created"]
    assert "rpc.committed_answer_rebuilt" in [getattr(r, "event", None) for r in caplog.records]


def test_method_failure_after_commit_answers_success(dispatcher, monkeypatch):
    real_call = dispatcher_module.call_method

    def call_then_fail(context, name, params):
        real_call(context, name, params)
        raise RuntimeError("simulated failure after the commit")

    monkeypatch.setattr(dispatcher_module, "call_method", call_then_fail)

    body, notifications = dispatcher.handle(json.dumps(create_body()).encode())

    response = json.loads(body)
    assert response["result"]["success"] is True
    assert response["result"]["task"]["name"] == "after commit 😀"
    assert response["result"]["task"]["scheduledAt"] == "2026-12-05T03:15:00.000Z"
    assert len(notifications) == 1
    assert task_count(dispatcher) == 1


def test_encoding_failure_spoils_no_other_member(dispatcher, monkeypatch):
    fail_first_success_encoding(monkeypatch)
    batch = [create_body(1, "first"), create_body(2, "second"), {"jsonrpc": "2.0", "id": 3, "method": "get-status"}]

    body, notifications = dispatcher.handle(json.dumps(batch).encode())

    response = {item["id"]: item for item in json.loads(body)}
    assert response[1]["result"]["task"]["name"] == "first"
    assert response[2]["result"]["task"]["name"] == "second"
    assert response[3]["result"]["state"] == "ready"
    assert len(notifications) == 2


def test_failure_before_commit_is_internal_error(dispatcher, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("simulated failure before the commit")

    monkeypatch.setattr(TaskService, "_insert_task", fail)

    body, notifications = dispatcher.handle(json.dumps(create_body()).encode())

    response = json.loads(body)
    assert response["error"]["data"]["error"]["code"] == "INTERNAL_ERROR"
    assert "simulated" not in response["error"]["message"]
    assert notifications == []
    assert task_count(dispatcher) == 0
