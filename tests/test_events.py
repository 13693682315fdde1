"""list-events: every task-created notification can be read back in seq order, even after a crash."""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sidecar_process import sidecar_command

try:
    from fcntl import F_SETPIPE_SZ, fcntl
except ImportError:
    F_SETPIPE_SZ = None


def create_params(name: str) -> dict:
    return {"name": name, "audience": {"source": "recent"}}


def read_all_events(process, page_size: int = 50) -> list[dict]:
    """Page through list-events with afterSeq = seq of the last event received."""
    events: list[dict] = []
    after_seq = 0
    while True:
        page = process.call("list-events", {"afterSeq": after_seq, "limit": page_size})
        events.extend(page["events"])
        if not page["events"] or page["events"][-1]["seq"] == page["lastSeq"]:
            return events
        after_seq = page["events"][-1]["seq"]


def stored_task_ids(db_path: Path) -> list[int]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return [row[0] for row in connection.execute("SELECT id FROM marketing_tasks ORDER BY id")]
    finally:
        connection.close()


def drain_after_kill(process) -> list[dict]:
    """Return every message the killed sidecar wrote before it died."""
    process.wait_exit()
    messages = []
    while True:
        try:
            message = process.messages.get_nowait()
        except queue.Empty:
            return messages
        if message is None:
            return messages
        messages.append(message)


# --- lastSeq and paging --------------------------------------------------------


def test_empty_file_has_no_events(sidecar):
    page = sidecar.call("list-events", {"afterSeq": 0})

    assert page["events"] == []
    assert page["lastSeq"] == 0


def test_events_match_notifications(sidecar):
    notifications = []
    for index in range(3):
        sidecar.call("create-marketing-task", create_params(f"task {index}"))
        notification, _ = sidecar.read_until(lambda m: m.get("method") == "marketing-task-created")
        notifications.append(notification["params"])

    events = sidecar.call("list-events", {"afterSeq": 0})["events"]

    assert [event["seq"] for event in events] == [n["seq"] for n in notifications]
    assert [event["payload"] for event in events] == [{"task": n["task"]} for n in notifications]
    assert {event["type"] for event in events} == {"marketing-task-created"}
    assert [event["createdAt"] for event in events] == [n["task"]["createdAt"] for n in notifications]


def test_last_seq_is_highest_stored_not_page_end(sidecar):
    for index in range(5):
        sidecar.call("create-marketing-task", create_params(f"task {index}"))

    first_page = sidecar.call("list-events", {"afterSeq": 0, "limit": 2})
    second_page = sidecar.call("list-events", {"afterSeq": first_page["events"][-1]["seq"], "limit": 2})
    at_end = sidecar.call("list-events", {"afterSeq": first_page["lastSeq"]})
    ahead = sidecar.call("list-events", {"afterSeq": 1000})

    assert [event["seq"] for event in first_page["events"]] == [1, 2]
    assert first_page["lastSeq"] == 5
    assert [event["seq"] for event in second_page["events"]] == [3, 4]
    assert second_page["lastSeq"] == 5
    assert at_end == {"success": True, "events": [], "lastSeq": 5}
    assert ahead == {"success": True, "events": [], "lastSeq": 5}


def test_failed_and_replayed_calls_add_no_event(sidecar):
    sidecar.call("create-marketing-task", {**create_params("once"), "clientRequestId": "ev-1"})
    sidecar.call("create-marketing-task", {**create_params("once"), "clientRequestId": "ev-1"})
    sidecar.call_error("create-marketing-task", {**create_params("other"), "clientRequestId": "ev-1"})
    sidecar.call_error("create-marketing-task", create_params("   "))

    page = sidecar.call("list-events", {"afterSeq": 0})

    assert [event["payload"]["task"]["name"] for event in page["events"]] == ["once"]
    assert page["lastSeq"] == 1


def test_list_events_writes_nothing(sidecar, db_path):
    sidecar.call("create-marketing-task", create_params("before the read"))
    files = [db_path, Path(f"{db_path}-wal")]
    before = [path.read_bytes() for path in files]

    sidecar.call("list-events", {"afterSeq": 0})
    sidecar.call("list-events", {"afterSeq": 0, "limit": 1})

    assert [path.read_bytes() for path in files] == before


# --- crash in the middle of a burst --------------------------------------------


def test_kill_during_burst_loses_no_event(spawn, db_path):
    """200 pipelined creates, SIGKILL after 50 responses, restart: every task with a success response has its one event."""
    process = spawn(db_path)
    process.wait_ready()
    request_ids = [process.send_request("create-marketing-task", create_params(f"burst {index}")) for index in range(200)]

    answered = {}
    while len(answered) < 50:
        message = process.read_message()
        if "id" in message and "method" not in message:
            answered[message["id"]] = message
    process.kill()
    seen = list(answered.values()) + drain_after_kill(process)

    successes = [m["result"]["task"] for m in seen if "method" not in m and "result" in m]
    notified = {m["params"]["task"]["id"]: m["params"]["seq"] for m in seen if m.get("method") == "marketing-task-created"}
    assert all("result" in m for m in seen if "method" not in m), "a create failed instead of succeeding"
    assert len(successes) >= 50

    restarted = spawn(db_path)
    restarted.wait_ready()
    events = read_all_events(restarted, page_size=37)
    stored = stored_task_ids(db_path)

    seqs = [event["seq"] for event in events]
    event_task_ids = [event["payload"]["task"]["id"] for event in events]
    assert all(earlier < later for earlier, later in zip(seqs, seqs[1:])), "seq must strictly increase"
    assert sorted(event_task_ids) == stored, "each stored task has exactly one event"
    assert {task["id"] for task in successes} <= set(stored), "every answered task is in the file"
    for task in successes:
        event = events[event_task_ids.index(task["id"])]
        assert event["payload"]["task"] == task
    for task_id, seq in notified.items():
        assert seqs[event_task_ids.index(task_id)] == seq
    assert len(stored) <= len(request_ids)


def test_restart_reads_events_without_duplicates(spawn, db_path):
    first = spawn(db_path)
    first.wait_ready()
    for index in range(4):
        first.call("create-marketing-task", create_params(f"first run {index}"))
    assert first.stop() == 0

    second = spawn(db_path)
    second.wait_ready()
    second.call("create-marketing-task", create_params("second run"))
    events = read_all_events(second, page_size=2)

    assert [event["seq"] for event in events] == [1, 2, 3, 4, 5]
    assert events[-1]["payload"]["task"]["name"] == "second run"



class StderrRecords:
    """Read a child's stderr log lines on a thread; wait for a record without polling."""

    def __init__(self, stream) -> None:
        self.lines: list[bytes] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, b""):
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def wait_for(self, predicate, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(predicate(record) for record in self._records()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching log record within {timeout} s; stderr tail: {self.lines[-5:]}")
                self.changed.wait(remaining)

    def _records(self) -> list[dict]:
        records = []
        for line in self.lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records


@pytest.mark.skipif(F_SETPIPE_SZ is None, reason="needs Linux F_SETPIPE_SZ to shrink the stdout pipe")
def test_kill_between_commit_and_response(spawn, db_path):
    """A sidecar blocked writing a committed task's response is killed: list-events still has that task.

    stdout is a 4 KiB pipe that the test does not read, and each response
    or notification carries a 1,000-character template. After task 1, the
    response of task 2 no longer fits, so the sidecar blocks right after
    committing task 2.
    """
    read_end, write_end = os.pipe()
    fcntl(write_end, F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        [*sidecar_command(), "--db", str(db_path)], stdin=subprocess.PIPE, stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    stderr = StderrRecords(process.stderr)
    try:
        template = "t" * 1000
        for index in range(10):
            request = {"jsonrpc": "2.0", "id": index, "method": "create-marketing-task",
                       "params": {**create_params(f"blocked {index}"), "messageTemplate": template}}
            process.stdin.write(json.dumps(request).encode() + b"\n")
        process.stdin.flush()
        stderr.wait_for(lambda record: record.get("event") == "task.created" and record.get("taskId") == 2)
        process.kill()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with os.fdopen(read_end, "rb") as stdout:
        written = stdout.read()

    answered = [json.loads(line) for line in written.split(b"\n")[:-1]]
    answered_ids = {m["result"]["task"]["id"] for m in answered if "result" in m}
    restarted = spawn(db_path)
    restarted.wait_ready()
    events = read_all_events(restarted)

    assert 2 not in answered_ids, "task 2 was expected to stay unanswered"
    assert stored_task_ids(db_path) == [1, 2]
    assert [event["payload"]["task"]["id"] for event in events] == [1, 2]
    assert [event["seq"] for event in events] == [1, 2]
    assert events[1]["payload"]["task"]["messageTemplate"] == template
