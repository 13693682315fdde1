"""Bounded output: slow, closed or missing stderr and stdout never block or crash the sidecar.

These tests spawn the sidecar with stdio the shared test client cannot
arrange (a stderr pipe that is never read, closed descriptors), so they use
Popen directly. /bin/sh closes a descriptor for the child (`2>&-`).
"""

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

from sidecar.logs import LOG_BURST, LOG_RATE_PER_SECOND
from sidecar_process import sidecar_command

TIMEOUT = 30
needs_sh = pytest.mark.skipif(not Path("/bin/sh").exists(), reason="closing a descriptor for the child needs /bin/sh")


class StdoutLines:
    """Read a child's stdout lines on a thread; wait for them with a timeout."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def next(self) -> dict:
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no stdout line within {TIMEOUT} s") from None
        assert line is not None, "the sidecar closed stdout"
        return json.loads(line)

    def until(self, predicate) -> dict:
        while True:
            message = self.next()
            if predicate(message):
                return message


def spawn_raw(db_path: Path, *args: str, redirect: str = "", **popen_args) -> subprocess.Popen:
    command = [*sidecar_command(), "--db", str(db_path), *args]
    if redirect:
        command = ["/bin/sh", "-c", f'exec "$@" {redirect}', "sh", *command]
    popen_args.setdefault("stdin", subprocess.PIPE)
    popen_args.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen(command, **popen_args)


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def requests_payload(count: int, method: str = "get-status", params=None) -> bytes:
    lines = []
    for index in range(count):
        message = {"jsonrpc": "2.0", "id": index, "method": method}
        if params is not None:
            message["params"] = params
        lines.append(json.dumps(message).encode() + b"\n")
    return b"".join(lines)


def send_in_background(process: subprocess.Popen, payload: bytes) -> threading.Thread:
    """Write payload on a thread, so that reading stdout meanwhile cannot deadlock."""

    def write() -> None:
        process.stdin.write(payload)
        process.stdin.flush()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def answer_all(process: subprocess.Popen, stdout: StdoutLines, count: int, method: str = "get-status", params=None) -> list[dict]:
    writer = send_in_background(process, requests_payload(count, method, params))
    responses = [stdout.until(lambda m: "id" in m and "method" not in m) for _ in range(count)]
    writer.join(TIMEOUT)
    return responses


def create_params(name: str) -> dict:
    return {"name": name, "audience": {"source": "recent"}}


def stored(db_path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


# --- stderr that is slow, closed or missing ------------------------------------------


def test_unread_stderr_never_blocks_requests(processes, db_path):
    """stderr is a pipe that is never read, and every request logs: all 3,000 get responses, and exit is prompt.

    Each get-marketing-task of a missing task logs its failure at INFO,
    which fills the 64 KiB pipe many times over.
    """
    process = spawn_raw(db_path, "--log-level", "debug", stderr=subprocess.PIPE)
    processes.append(process)
    stdout = StdoutLines(process.stdout)
    stdout.until(lambda m: m.get("method") == "sidecar-ready")

    responses = answer_all(process, stdout, 3000, "get-marketing-task", {"id": 424242})
    created = answer_all(process, stdout, 50, "create-marketing-task", create_params("slow stderr"))
    process.stdin.close()

    assert sorted(r["id"] for r in responses) == list(range(3000))
    assert {r["error"]["data"]["error"]["code"] for r in responses} == {"NOT_FOUND"}
    assert all(r["result"]["success"] for r in created)
    assert process.wait(timeout=TIMEOUT) == 0
    assert stored(db_path, "SELECT COUNT(*) FROM marketing_tasks") == [(50,)]


def test_log_flood_is_rate_limited(processes, db_path):
    """5,000 failing requests at DEBUG would log 10,000 records (received, then failed); the rate limit drops most and counts them."""
    started = time.monotonic()
    process = spawn_raw(db_path, "--log-level", "debug", stderr=subprocess.PIPE)
    processes.append(process)
    stderr_lines: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(iter(process.stderr.readline, b"")), daemon=True)
    reader.start()
    stdout = StdoutLines(process.stdout)
    stdout.until(lambda m: m.get("method") == "sidecar-ready")

    answer_all(process, stdout, 5000, "get-marketing-task", {"id": 424242})
    process.stdin.close()
    assert process.wait(timeout=TIMEOUT) == 0
    elapsed = time.monotonic() - started
    reader.join(TIMEOUT)

    records = [json.loads(line) for line in stderr_lines]
    dropped = sum(r["count"] for r in records if r.get("event") == "log.dropped")
    failures = [r for r in records if r.get("event") == "rpc.failed"]
    # Boot records, one dropped-count record a second and the final one come on top of the rate.
    assert len(records) <= LOG_BURST + LOG_RATE_PER_SECOND * elapsed + elapsed + 30
    assert dropped > 0, "the dropped records must be counted in the log"
    assert failures, "the records that fit the rate are written"


@needs_sh
@pytest.mark.parametrize(
    ("redirect", "stderr"),
    [
        pytest.param("2>&-", None, id="stderr-closed-fd"),
        pytest.param("", subprocess.DEVNULL, id="stderr-devnull"),
    ],
)
def test_missing_stderr_still_serves(processes, db_path, redirect, stderr):
    process = spawn_raw(db_path, "--log-level", "debug", redirect=redirect, stderr=stderr)
    processes.append(process)
    stdout = StdoutLines(process.stdout)
    stdout.until(lambda m: m.get("method") == "sidecar-ready")

    responses = answer_all(process, stdout, 20, "create-marketing-task", create_params("no stderr"))
    process.stdin.close()

    assert all(r["result"]["success"] for r in responses)
    assert process.wait(timeout=TIMEOUT) == 0
    assert stored(db_path, "SELECT COUNT(*) FROM marketing_tasks") == [(20,)]


def test_stderr_reader_gone_still_serves(processes, db_path):
    """The shell closed its end of stderr: writes fail with EPIPE, and requests go on."""
    process = spawn_raw(db_path, "--log-level", "debug", stderr=subprocess.PIPE)
    processes.append(process)
    process.stderr.close()
    stdout = StdoutLines(process.stdout)
    stdout.until(lambda m: m.get("method") == "sidecar-ready")

    responses = answer_all(process, stdout, 200, "create-marketing-task", create_params("stderr gone"))
    process.stdin.close()

    assert all(r["result"]["success"] for r in responses)
    assert process.wait(timeout=TIMEOUT) == 0


# --- stdout that is closed or missing --------------------------------------------------


@needs_sh
def test_closed_stdout_exits_cleanly_with_log(processes, db_path):
    process = spawn_raw(db_path, redirect=">&-", stdout=None, stderr=subprocess.PIPE)
    processes.append(process)

    _, stderr = process.communicate(timeout=TIMEOUT)

    records = [json.loads(line) for line in stderr.splitlines()]
    assert process.returncode == 0
    assert "sidecar.no_stdout" in [r.get("event") for r in records]


def test_stdout_reader_gone_after_commit(processes, db_path):
    """The shell stops reading stdout: the create still commits whole, and the sidecar exits 0."""
    process = spawn_raw(db_path, stderr=subprocess.PIPE)
    processes.append(process)
    while json.loads(process.stdout.readline())["method"] != "sidecar-ready":
        pass
    process.stdout.close()

    request = {"jsonrpc": "2.0", "id": 1, "method": "create-marketing-task", "params": create_params("unanswered")}
    process.stdin.write(json.dumps(request).encode() + b"\n")
    process.stdin.flush()
    _, stderr = process.communicate(timeout=TIMEOUT)

    events = [json.loads(line).get("event") for line in stderr.splitlines()]
    assert process.returncode == 0
    assert "sidecar.stdout_closed" in events
    assert stored(db_path, "SELECT name FROM marketing_tasks") == [("unanswered",)]
    assert stored(db_path, "SELECT task_id FROM marketing_events") == [(1,)]


@needs_sh
def test_closed_stdin_exits_cleanly(processes, db_path):
    process = spawn_raw(db_path, redirect="<&-", stdin=None, stderr=subprocess.PIPE)
    processes.append(process)

    stdout, stderr = process.communicate(timeout=TIMEOUT)

    assert process.returncode == 0
    methods = [json.loads(line)["method"] for line in stdout.splitlines()]
    assert methods[-1] == "sidecar-ready"


def test_stray_print_goes_to_log_not_protocol(tmp_path, db_path):
    """A library's print() lands in the log as a record, never on the protocol pipe."""
    script = tmp_path / "print_then_serve.py"
    script.write_text(
        "import sys\n"
        "from sidecar.cli import main\n"
        "from sidecar.transport import serve\n"
        "original = serve.Server.serve\n"
        "def noisy(self):\n"
        "    print('stray output from a library')\n"
        "    return original(self)\n"
        "serve.Server.serve = noisy\n"
        "sys.exit(main())\n",
        encoding="utf-8",
    )
    completed = subprocess.run(
        [os.environ.get("SIDECAR_TEST_PYTHON", _python()), str(script), "--db", str(db_path)],
        input=b'{"jsonrpc":"2.0","id":1,"method":"get-status"}\n',
        capture_output=True,
        timeout=TIMEOUT,
    )

    stdout_messages = [json.loads(line) for line in completed.stdout.splitlines()]
    records = [json.loads(line) for line in completed.stderr.splitlines()]
    assert completed.returncode == 0
    assert [m.get("id") for m in stdout_messages if "method" not in m] == [1]
    assert {"event": "stdio.stray_output", "text": "stray output from a library"}.items() <= next(
        r for r in records if r.get("event") == "stdio.stray_output"
    ).items()


def _python() -> str:
    import sys

    return sys.executable
