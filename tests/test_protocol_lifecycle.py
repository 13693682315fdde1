"""Stopping and encoding: SIGTERM, end of input and shutdown all exit 0 after the request in hand; UTF-8 whatever the locale."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest

posix_only = pytest.mark.skipif(os.name != "posix", reason="SIGTERM handling is POSIX-only")


def create_params(name: str) -> dict:
    return {"name": name, "audience": {"source": "recent"}}


def stored_names(db_path: Path) -> list[str]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return [row[0] for row in connection.execute("SELECT name FROM marketing_tasks ORDER BY id")]
    finally:
        connection.close()


def events_logged(process) -> list[str]:
    return [record.get("event") for record in process.log_records()]


def assert_no_more_messages(process) -> None:
    """After a stop, stdout ends without another message."""
    remaining = []
    while True:
        message = process.messages.get(timeout=5)
        if message is None:
            break
        remaining.append(message)
    assert remaining == []


# --- SIGTERM ---------------------------------------------------------------------


@posix_only
def test_sigterm_while_idle_exits_0(sidecar):
    sidecar.terminate()

    assert sidecar.wait_exit() == 0
    assert "sidecar.sigterm" in events_logged(sidecar)
    assert "sidecar.stop" in events_logged(sidecar)


@posix_only
def test_sigterm_while_busy_finishes_request(spawn, db_path):
    """SIGTERM lands while a create waits for the write lock: the create commits and gets its response, then exit 0.

    The test holds the file's write lock, so the create is provably in hand
    (its DEBUG record is logged) when the signal is sent. The request queued
    behind it is left unanswered, as for any stop.
    """
    process = spawn(db_path, "--log-level", "debug")
    process.wait_ready()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        create_id = process.send_request("create-marketing-task", create_params("in hand at SIGTERM"))
        process.send_request("get-status")
        process.wait_log("rpc.received")
        process.terminate()
    finally:
        blocker.execute("COMMIT")
        blocker.close()

    response, before = process.read_response(create_id)
    notification = process.read_message()

    assert response["result"]["task"]["name"] == "in hand at SIGTERM"
    assert notification["method"] == "marketing-task-created"
    assert before == []
    assert process.wait_exit() == 0
    assert_no_more_messages(process)
    assert stored_names(db_path) == ["in hand at SIGTERM"]
    assert "sidecar.sigterm" in events_logged(process)


@posix_only
def test_sigterm_during_burst_answers_whole_messages(spawn, db_path):
    """Every response written before the stop is complete, and exactly the creates with a response are stored."""
    process = spawn(db_path)
    process.wait_ready()
    for index in range(100):
        process.send_request("create-marketing-task", create_params(f"burst {index}"))
    process.read_until(lambda message: message.get("id") == 1010)

    process.terminate()
    assert process.wait_exit() == 0

    answered = [json.loads(line) for line in process.raw_lines]
    answered_names = [m["result"]["task"]["name"] for m in answered if "result" in m]
    assert answered_names == stored_names(db_path)


# --- end of input and shutdown ---------------------------------------------------


def test_stdin_eof_exits_0(sidecar, db_path):
    sidecar.close_stdin()

    assert sidecar.wait_exit() == 0
    assert "sidecar.stdin_closed" in events_logged(sidecar)
    assert not Path(f"{db_path}-wal").exists(), "a clean stop closes the database, which removes the WAL file"


def test_stdin_eof_answers_pending_request(sidecar, db_path):
    request_id = sidecar.send_request("create-marketing-task", create_params("sent just before EOF"))
    sidecar.close_stdin()

    response, _ = sidecar.read_response(request_id)

    assert response["result"]["success"] is True
    assert sidecar.wait_exit() == 0
    assert stored_names(db_path) == ["sent just before EOF"]


def test_shutdown_exits_0_after_answer(sidecar, db_path):
    shutdown_id = sidecar.send_request("shutdown", {})
    sidecar.send_request("create-marketing-task", create_params("after shutdown"))

    response, _ = sidecar.read_response(shutdown_id)

    assert response["result"] == {"success": True}
    assert sidecar.wait_exit() == 0
    assert not Path(f"{db_path}-wal").exists(), "a clean stop closes the database, which removes the WAL file"
    assert_no_more_messages(sidecar)
    assert stored_names(db_path) == []


def test_shutdown_in_batch_answers_whole_batch(sidecar, db_path):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "shutdown"},
        {"jsonrpc": "2.0", "id": 2, "method": "create-marketing-task", "params": create_params("same batch")},
    ]

    sidecar.send(batch)
    response = sidecar.read_message()

    assert [item["id"] for item in response] == [1, 2]
    assert sidecar.wait_exit() == 0
    assert stored_names(db_path) == ["same batch"]


# --- encoding ------------------------------------------------------------------------


NAMES = ["测试001", "行銷任務：週年慶", "𠮷野家 😀 outside GBK", "日本語とEnglish"]


def test_utf8_whatever_the_locale(spawn, db_path):
    """A GBK console encoding and the C locale change nothing: raw UTF-8 in, ASCII-safe JSON out."""
    process = spawn(db_path, env={"PYTHONIOENCODING": "gbk", "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"})
    process.wait_ready()

    created = [process.call("create-marketing-task", create_params(name))["task"] for name in NAMES]
    fetched = [process.call("get-marketing-task", {"id": task["id"]})["task"]["name"] for task in created]
    listed = [task["name"] for task in process.call("list-marketing-tasks", {})["tasks"]]
    assert process.stop() == 0

    assert [task["name"] for task in created] == NAMES
    assert fetched == NAMES
    assert listed == list(reversed(NAMES))
    assert stored_names(db_path) == NAMES
    assert all(line.isascii() for line in process.raw_lines)
    for line in process.stderr_lines:
        json.loads(line.decode("utf-8"))


def test_utf8_in_content_length_under_c_locale(spawn, db_path):
    process = spawn(db_path, env={"PYTHONIOENCODING": "gbk", "LC_ALL": "C"}, framing="content-length")
    process.wait_ready()

    task = process.call("create-marketing-task", create_params(NAMES[2]))["task"]

    assert task["name"] == NAMES[2]
    assert stored_names(db_path) == [NAMES[2]]


@posix_only
def test_sigint_while_idle_exits_0(sidecar):
    sidecar.process.send_signal(signal.SIGINT)

    assert sidecar.wait_exit() == 0
    assert b"Traceback" not in b"".join(sidecar.stderr_lines)


@posix_only
def test_sigterm_while_boot_waits_for_lock(spawn, tmp_path):
    # A file in rollback-journal mode whose lock another app holds: boot waits
    # to switch it to WAL. A stop signal must end that wait, not outlast it.
    db_path = tmp_path / "locked.db"
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("CREATE TABLE host_table (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO host_table VALUES (1)")
    try:
        process = spawn(db_path)
        process.wait_log("boot.wal_switch_wait")
        process.terminate()
        boot, _ = process.wait_boot(timeout=15)
        assert process.wait_exit(timeout=15) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert boot["method"] == "sidecar-degraded"
    assert boot["params"]["error"]["code"] == "DATABASE_BUSY"
