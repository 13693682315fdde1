"""Creates that hit a broken database fail typed, emit nothing and write nothing."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

CREATE = {"name": "测试001", "audience": {"source": "recent"}}


def count_rows(db_path: Path, table: str) -> int:
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        connection.close()


@contextlib.contextmanager
def immutable(*paths: Path):
    """Make files unwritable even for root (chattr +i), and always undo it."""
    result = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {result.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def assert_no_notification(sidecar) -> None:
    """Prove nothing was queued after the failed call: the next response comes first."""
    response, before = sidecar.request("get-status", {})
    assert before == [], before
    assert response["result"]["success"] is True


def test_create_after_table_vanished(sidecar, db_path):
    connection = sqlite3.connect(db_path)
    connection.execute("DROP TABLE marketing_task_targets")
    connection.execute("DROP TABLE marketing_tasks")
    connection.commit()
    connection.close()

    error = sidecar.call_error("create-marketing-task", CREATE)

    assert error["code"] == "DATABASE_NOT_READY"
    assert "marketing_tasks" in error["message"]
    assert error["userMessage"]
    assert_no_notification(sidecar)
    assert count_rows(db_path, "marketing_events") == 0


def test_create_on_read_only_file(sidecar, db_path):
    sidecar.call("upsert-contacts", {"contacts": [{"externalId": "c1", "lastContactedAt": "2026-12-01T00:00:00Z"}]})
    wal = Path(f"{db_path}-wal")

    with immutable(db_path, wal):
        error = sidecar.call_error("create-marketing-task", CREATE)
        assert error["code"] == "DATABASE_UNAVAILABLE"
        assert str(db_path) in error["message"]
        assert_no_notification(sidecar)

    assert count_rows(db_path, "marketing_tasks") == 0
    assert count_rows(db_path, "marketing_task_targets") == 0
    assert count_rows(db_path, "marketing_events") == 0


def test_create_while_another_connection_holds_the_lock(sidecar, db_path):
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        error = sidecar.call_error("create-marketing-task", CREATE)
        waited = time.monotonic() - started
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    assert error["code"] == "DATABASE_BUSY"
    assert error["retryable"] is True
    assert waited >= 4, "the busy timeout is waited out before giving up"
    assert_no_notification(sidecar)

    task = sidecar.call("create-marketing-task", CREATE)["task"]
    assert task["id"] > 0


def test_unreadable_stored_row_is_internal_error(sidecar, db_path):
    task = sidecar.call("create-marketing-task", CREATE)["task"]
    sidecar.read_message()
    connection = sqlite3.connect(db_path)
    connection.execute("UPDATE marketing_tasks SET audience = '{not json' WHERE id = ?", (task["id"],))
    connection.commit()
    connection.close()

    error = sidecar.call_error("get-marketing-task", {"id": task["id"]})

    assert error["code"] == "INTERNAL_ERROR"
    assert "not json" not in error["message"]
    assert error["retryable"] is False
    record = sidecar.wait_log("rpc.internal_error")
    assert record["method"] == "get-marketing-task"
