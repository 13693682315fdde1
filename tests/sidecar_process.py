"""A test client that runs the real sidecar as a child process over pipes.

The command under test is `python -m sidecar` from the running interpreter,
or the command in SIDECAR_TEST_COMMAND (a JSON list, or a shell-style
string), so the same tests can run against an installed or frozen build.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 30.0


def sidecar_command() -> list[str]:
    configured = os.environ.get("SIDECAR_TEST_COMMAND")
    if not configured:
        return [sys.executable, "-m", "sidecar"]
    if configured.lstrip().startswith("["):
        return json.loads(configured)
    return shlex.split(configured)


class SidecarTimeout(AssertionError):
    pass


class SidecarProcess:
    """Spawn the sidecar, write raw bytes or requests, read messages line by line (NDJSON)."""

    def __init__(self, db_path: Path | str | None, *extra_args: str, env: dict[str, str] | None = None,
                 cwd: Path | str | None = None, framing: str = "ndjson") -> None:
        args = list(sidecar_command())
        if db_path is not None:
            args += ["--db", str(db_path)]
        args += list(extra_args)
        self.framing = framing
        if framing != "ndjson" and "--framing" not in extra_args:
            args += ["--framing", framing]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        self.messages: queue.Queue = queue.Queue()
        self.raw_lines: list[bytes] = []
        self.stderr_lines: list[bytes] = []
        self.stderr_changed = threading.Condition()
        self.next_id = 1000
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # --- reading -------------------------------------------------------------

    def _read_stdout(self) -> None:
        stream = self.process.stdout
        if self.framing == "content-length":
            self._read_content_length(stream)
        else:
            for line in iter(stream.readline, b""):
                self.raw_lines.append(line)
                self.messages.put(json.loads(line))
        self.messages.put(None)

    def _read_content_length(self, stream) -> None:
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.raw_lines.append(body)
            self.messages.put(json.loads(body))

    def _read_stderr(self) -> None:
        for line in iter(self.process.stderr.readline, b""):
            with self.stderr_changed:
                self.stderr_lines.append(line)
                self.stderr_changed.notify_all()

    def read_message(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise SidecarTimeout(f"no message within {timeout} s; stderr tail: {self.stderr_tail()}") from None
        if message is None:
            self.messages.put(None)
            raise SidecarTimeout(f"sidecar closed stdout; exit {self.process.poll()}; stderr tail: {self.stderr_tail()}")
        return message

    def read_until(self, predicate, timeout: float = DEFAULT_TIMEOUT) -> tuple[Any, list[Any]]:
        """Read until a message matches; return it and the messages before it."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            message = self.read_message(timeout=max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message, before
            before.append(message)

    def wait_boot(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[Any, list[Any]]:
        """Return the sidecar-ready or sidecar-degraded notification and the messages before it."""
        return self.read_until(lambda m: m.get("method") in ("sidecar-ready", "sidecar-degraded"), timeout)

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        boot, _ = self.wait_boot(timeout)
        assert boot["method"] == "sidecar-ready", boot
        return boot["params"]

    def stderr_tail(self, lines: int = 10) -> str:
        return b"".join(self.stderr_lines[-lines:]).decode("utf-8", "replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.stderr_lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
        return records

    def wait_log(self, event: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Return the first log record with this event name, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        with self.stderr_changed:
            while True:
                for record in self.log_records():
                    if record.get("event") == event:
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SidecarTimeout(f"no log record {event!r} within {timeout} s; stderr tail: {self.stderr_tail()}")
                self.stderr_changed.wait(remaining)

    # --- writing -------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: Any) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        if self.framing == "content-length":
            self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        else:
            self.send_bytes(body + b"\n")

    def request(self, method: str, params: Any = None, timeout: float = DEFAULT_TIMEOUT) -> tuple[dict[str, Any], list[Any]]:
        """Send a request; return its response and the other messages read before it."""
        request_id = self.send_request(method, params)
        return self.read_response(request_id, timeout)

    def call(self, method: str, params: Any = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Send a request and return its result; fail on an error response."""
        response, _ = self.request(method, params, timeout)
        assert "result" in response, response
        return response["result"]

    def call_error(self, method: str, params: Any = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Send a request and return ErrorInfo of its error response; fail on success."""
        response, _ = self.request(method, params, timeout)
        assert "error" in response, response
        return response["error"]["data"]["error"]

    # --- ending --------------------------------------------------------------

    def close_stdin(self) -> None:
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        code = self.process.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def stop(self) -> int:
        """Close stdin and wait for a clean exit; kill if it hangs."""
        self.close_stdin()
        try:
            return self.wait_exit()
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    # --- pipelining and signals -----------------------------------------------

    def send_request(self, method: str, params: Any = None, request_id: Any = None) -> Any:
        """Send a request without waiting for it; return its id."""
        if request_id is None:
            request_id = self.next_id
            self.next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return request_id

    def read_response(self, request_id: Any, timeout: float = DEFAULT_TIMEOUT) -> tuple[dict[str, Any], list[Any]]:
        """Read until the response to request_id; return it and the messages before it."""
        return self.read_until(lambda m: isinstance(m, dict) and "method" not in m and m.get("id") == request_id, timeout)

    def terminate(self) -> None:
        """Send SIGTERM."""
        self.process.terminate()

    def __enter__(self) -> "SidecarProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.kill()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
