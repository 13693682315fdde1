"""Developer test harness for the marketing sidecar.

The harness starts ``python -m sidecar`` with the flags it does not know
itself, waits for the boot notification, and then sends one call per input
line and prints every response and notification in readable form. Input comes
from ``--script FILE`` or from stdin, with a prompt when stdin is a terminal.

A line is one of:

    METHOD                      a request with params {}
    METHOD {"json": "params"}   a request, with an id that the harness assigns
    {"jsonrpc": "2.0", ...}     raw JSON-RPC, sent as written (also [batch])
    !<any of the above>         an error response is expected

Blank lines and lines starting with ``#`` are skipped.

With ``--script`` the exit status is 0 when every call gave the expected
outcome and 1 otherwise. Without it the harness sends ``shutdown`` at end of
input and exits with the sidecar's exit status.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO

NDJSON = "ndjson"
CONTENT_LENGTH = "content-length"
FRAMINGS = (NDJSON, CONTENT_LENGTH)

BOOT_METHODS = ("sidecar-ready", "sidecar-degraded")
TASK_CREATED = "marketing-task-created"
DEFAULT_TIMEOUT_SECONDS = 10.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# --- Framing ---------------------------------------------------------------


class FramingError(ValueError):
    """A frame header from the sidecar that cannot be parsed."""


def encode_frame(body: bytes, framing: str) -> bytes:
    """Wrap one UTF-8 message body in the framing the sidecar reads."""
    if framing == CONTENT_LENGTH:
        header = f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
        return header + body
    return body + b"\n"


def read_frame(stream: io.BufferedIOBase, framing: str) -> Optional[bytes]:
    """Read one message body from the stream, or return None at end of file."""
    if framing == CONTENT_LENGTH:
        return _read_content_length_frame(stream)
    return _read_ndjson_frame(stream)


def _read_ndjson_frame(stream: io.BufferedIOBase) -> Optional[bytes]:
    while True:
        line = stream.readline()
        if not line:
            return None
        body = line.rstrip(b"\r\n")
        if body.strip():
            return body


def _read_content_length_frame(stream: io.BufferedIOBase) -> Optional[bytes]:
    length: Optional[int] = None
    while True:
        line = stream.readline()
        if not line:
            if length is None:
                return None
            raise FramingError("end of output inside a frame header")
        header = line.rstrip(b"\r\n")
        if not header:
            if length is None:
                # LSP headers end with an empty line. A header block without
                # Content-Length cannot be read, so the caller skips to the next one.
                raise FramingError("frame header without Content-Length")
            break
        name, separator, value = header.partition(b":")
        if not separator:
            raise FramingError(f"invalid header line {header!r}")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FramingError(f"invalid Content-Length {value.strip()!r}") from None
            if length < 0:
                raise FramingError(f"negative Content-Length {length}")

    body = stream.read(length)
    if len(body) < length:
        raise FramingError(f"end of output after {len(body)} of {length} body bytes")
    return body


# --- Sidecar process --------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """One event from the reader thread: a decoded message, bad output, or end of output."""

    kind: str  # "message", "invalid" or "eof"
    message: Any = None
    text: str = ""


def decode_message(body: bytes) -> Incoming:
    """Decode one frame body as UTF-8 JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return Incoming("invalid", text=f"not UTF-8 ({error}): {body!r}")
    try:
        return Incoming("message", message=json.loads(text))
    except ValueError as error:
        return Incoming("invalid", text=f"not JSON ({error}): {text}")


class SidecarClient:
    """The sidecar child process, with framed writes and a reader thread.

    The reader thread puts one Incoming on a queue for each frame and a final
    "eof" event, so that only the main thread prints and it can read with a
    timeout.
    """

    def __init__(self, command: list[str], framing: str, quiet_logs: bool) -> None:
        self.command = command
        self.framing = framing
        self.quiet_logs = quiet_logs
        self._incoming: "queue.Queue[Incoming]" = queue.Queue()
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._reader: Optional[threading.Thread] = None

    def start(self) -> None:
        """Spawn the sidecar and start reading its stdout."""
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if self.quiet_logs else None,
            **_detached_process_options(),
        )
        self._reader = threading.Thread(
            target=self._read_loop, name="sidecar-stdout", daemon=True
        )
        self._reader.start()

    def _read_loop(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        try:
            while True:
                try:
                    body = read_frame(stream, self.framing)
                except FramingError as error:
                    self._incoming.put(Incoming("invalid", text=str(error)))
                    continue
                if body is None:
                    break
                self._incoming.put(decode_message(body))
        except (OSError, ValueError) as error:
            # A read on a pipe that stop() has closed raises ValueError.
            self._incoming.put(Incoming("invalid", text=f"reading stdout failed: {error}"))
        finally:
            self._incoming.put(Incoming("eof"))

    def send(self, body: bytes) -> bool:
        """Write one framed message, or return False when the sidecar's stdin is closed.

        NOTE: the write has no timeout, so a sidecar that stops reading stdin
        blocks the harness once the pipe buffer is full.
        """
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(encode_frame(body, self.framing))
            self._process.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def next_incoming(self, timeout: float) -> Optional[Incoming]:
        """Return the next event, or None when none arrives within timeout seconds."""
        try:
            return self._incoming.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def close_stdin(self) -> None:
        """Send end of file, which the sidecar treats like shutdown."""
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.close()
        except OSError:
            pass  # the pipe is already broken because the sidecar has exited

    def wait(self, timeout: float) -> Optional[int]:
        """Return the exit status, or None if the sidecar is still running after timeout seconds."""
        assert self._process is not None
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Kill the sidecar if it still runs, and release the pipes."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self.close_stdin()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()


def _detached_process_options() -> dict[str, Any]:
    # Ctrl-C in the terminal reaches only the harness, so that the harness can
    # stop the sidecar with a shutdown request instead of interrupting a call.
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


# --- Input lines ------------------------------------------------------------


class LineSyntaxError(ValueError):
    """An input line that is neither ``METHOD [params]`` nor raw JSON."""


@dataclass(frozen=True)
class ScriptLine:
    """One parsed input line: a request by method name, or raw JSON-RPC text."""

    expect_error: bool
    method: Optional[str] = None
    params: Any = None
    raw: Optional[str] = None


def parse_line(text: str) -> Optional[ScriptLine]:
    """Parse one input line, or return None for a blank line or a ``#`` comment.

    Raises LineSyntaxError when the params after the method name are not a
    JSON object or array.
    """
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None

    expect_error = stripped.startswith("!")
    if expect_error:
        stripped = stripped[1:].lstrip()
        if not stripped:
            raise LineSyntaxError("'!' must be followed by a call")

    if stripped[0] in "{[":
        return ScriptLine(expect_error=expect_error, raw=stripped)

    method, _, params_text = stripped.partition(" ")
    params_text = params_text.strip()
    if not params_text:
        return ScriptLine(expect_error=expect_error, method=method, params={})
    try:
        params = json.loads(params_text)
    except ValueError as error:
        raise LineSyntaxError(f"params of {method} are not valid JSON: {error}") from None
    if not isinstance(params, (dict, list)):
        raise LineSyntaxError(
            f"params of {method} must be a JSON object or array, got {params_text}"
        )
    return ScriptLine(expect_error=expect_error, method=method, params=params)


def _is_valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _is_well_formed_call(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("jsonrpc") == "2.0"
        and isinstance(value.get("method"), str)
        and _is_valid_id(value.get("id"))
    )


def _is_notification(value: Any) -> bool:
    return _is_well_formed_call(value) and "id" not in value


def _same_id(left: Any, right: Any) -> bool:
    # Strict on type, so that a sidecar echoing id 1 as "1" is caught.
    return type(left) is type(right) and left == right


@dataclass(frozen=True)
class ExpectedReply:
    """The reply that one sent line should get: a single response by id, or a batch array.

    An error response with id null also matches. The sidecar sends one when it
    cannot read the id of a message that is too large or not JSON, and the
    harness has only one line in flight, so that error belongs to this line.
    """

    batch: bool
    request_id: Any = None

    def matches(self, message: Any) -> bool:
        if isinstance(message, list):
            return self.batch
        if not isinstance(message, dict) or "method" in message or "id" not in message:
            return False
        if message["id"] is None and "error" in message:
            return True
        return not self.batch and _same_id(message["id"], self.request_id)

    def describe(self) -> str:
        if self.batch:
            return "the batch response"
        return f"the response to #{format_id(self.request_id)}"


def expected_reply_for_raw(text: str) -> Optional[ExpectedReply]:
    """Return the reply that JSON-RPC 2.0 prescribes for a raw line, or None when none is due.

    Only a well-formed notification, or a batch of nothing else, gets no reply.
    An object without an id that is not a valid notification gets an Invalid
    Request error with id null.
    """
    try:
        value = json.loads(text)
    except ValueError:
        return ExpectedReply(batch=False, request_id=None)

    if isinstance(value, list):
        if not value:
            return ExpectedReply(batch=False, request_id=None)
        if all(_is_notification(item) for item in value):
            return None
        return ExpectedReply(batch=True)

    if _is_notification(value):
        return None
    if isinstance(value, dict) and _is_valid_id(value.get("id")):
        return ExpectedReply(batch=False, request_id=value.get("id"))
    return ExpectedReply(batch=False, request_id=None)


def methods_by_request_id(text: str) -> dict[Any, str]:
    """Map the id of each request in a raw line to its method name."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    items = value if isinstance(value, list) else [value]
    methods: dict[Any, str] = {}
    for item in items:
        if isinstance(item, dict) and "id" in item and isinstance(item.get("method"), str):
            if isinstance(item["id"], (str, int)):
                methods[item["id"]] = item["method"]
    return methods


# --- Output -----------------------------------------------------------------


ANSI_RESET = "\x1b[0m"
ANSI_BOLD = "\x1b[1m"
ANSI_DIM = "\x1b[2m"
ANSI_RED = "\x1b[31m"
ANSI_GREEN = "\x1b[32m"
ANSI_YELLOW = "\x1b[33m"
ANSI_MAGENTA = "\x1b[35m"
ANSI_CYAN = "\x1b[36m"


def colour_enabled(stream: TextIO, environ: dict[str, str]) -> bool:
    """Return whether to colour output: only on a terminal, and not when NO_COLOR is set to any value."""
    if "NO_COLOR" in environ:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Palette:
    """ANSI styling that becomes a no-op when colour is disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, style: str) -> str:
        if not self.enabled:
            return text
        return f"{style}{text}{ANSI_RESET}"


def format_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


def format_id(request_id: Any) -> str:
    if isinstance(request_id, str):
        return request_id
    return json.dumps(request_id, ensure_ascii=False)


def error_code(error: Any) -> str:
    """Return the stable code from error.data.error.code, else the numeric JSON-RPC code."""
    if not isinstance(error, dict):
        return "?"
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        code = data["error"].get("code")
        if isinstance(code, str):
            return code
    return str(error.get("code", "?"))


def format_request(method: str, request_id: Any, palette: Palette) -> str:
    return f"{palette.paint('→', ANSI_CYAN)} {method} #{format_id(request_id)}"


def format_raw_request(text: str, palette: Palette) -> str:
    return f"{palette.paint('→', ANSI_CYAN)} raw {text}"


def format_response(message: dict, palette: Palette) -> str:
    """Format one response as ``← #ID ok RESULT`` or ``← #ID error CODE: MESSAGE``."""
    arrow = palette.paint("←", ANSI_CYAN)
    label = f"#{format_id(message.get('id'))}"
    if "error" not in message:
        ok = palette.paint("ok", ANSI_GREEN)
        return f"{arrow} {label} {ok} {format_json(message.get('result'))}"

    error = message["error"]
    code = palette.paint(f"error {error_code(error)}", ANSI_RED)
    text = error.get("message", "") if isinstance(error, dict) else format_json(error)
    lines = [f"{arrow} {label} {code}: {text}"]
    lines.extend(_error_detail_lines(error))
    return "\n".join(lines)


def _error_detail_lines(error: Any) -> list[str]:
    data = error.get("data") if isinstance(error, dict) else None
    info = data.get("error") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        return []
    lines = []
    for field in info.get("fields") or []:
        if isinstance(field, dict):
            lines.append(f"    {field.get('path')}: {field.get('message')}")
    if "userMessage" in info:
        lines.append(f"    userMessage: {info['userMessage']}")
    if info.get("retryable") is True:
        lines.append("    retryable: true")
    return lines


def format_notification(message: dict, palette: Palette) -> str:
    """Format a notification as ``↯ METHOD PARAMS``, or migration progress as one short line."""
    method = message.get("method")
    params = message.get("params")
    if method == "migration-progress" and isinstance(params, dict):
        return palette.paint(
            f"migrating {params.get('index')}/{params.get('total')} {params.get('name')}",
            ANSI_DIM,
        )
    marker = palette.paint("↯", ANSI_MAGENTA)
    label = f"{method} #{format_id(message['id'])}" if "id" in message else str(method)
    return f"{marker} {label} {format_json(params)}"


class Printer:
    """Writes each output block with one write call, so blocks never interleave mid-line."""

    def __init__(self, stream: TextIO, palette: Palette) -> None:
        self.stream = stream
        self.palette = palette

    def _write(self, block: str) -> None:
        self.stream.write(block + "\n")
        self.stream.flush()

    def request(self, method: str, request_id: Any) -> None:
        self._write(format_request(method, request_id, self.palette))

    def raw_request(self, text: str) -> None:
        self._write(format_raw_request(text, self.palette))

    def message(self, message: Any) -> None:
        if isinstance(message, list):
            for item in message:
                self.message(item)
        elif isinstance(message, dict) and "method" in message:
            self._write(format_notification(message, self.palette))
        elif isinstance(message, dict) and ("result" in message or "error" in message):
            self._write(format_response(message, self.palette))
        else:
            self._write(f"{self.palette.paint('?', ANSI_YELLOW)} {format_json(message)}")

    def invalid_output(self, text: str) -> None:
        self._write(self.palette.paint(f"? invalid output from the sidecar: {text}", ANSI_YELLOW))

    def failure(self, text: str) -> None:
        self._write(self.palette.paint(f"✗ {text}", ANSI_RED + ANSI_BOLD))

    def note(self, text: str) -> None:
        self._write(self.palette.paint(f"· {text}", ANSI_DIM))


# --- Session ----------------------------------------------------------------


class HarnessSession:
    """Boots, drives and shuts down one sidecar, and records every failed expectation."""

    def __init__(self, client: SidecarClient, printer: Printer, timeout: float) -> None:
        self.client = client
        self.printer = printer
        self.timeout = timeout
        self.failures: list[str] = []
        self.output_closed = False
        self._next_id = 1
        self._shutdown_acknowledged = False
        self._notified_task_ids: set[Any] = set()

    def fail(self, text: str) -> None:
        self.failures.append(text)
        self.printer.failure(text)

    # Message pump

    def _pump(
        self,
        matches: Callable[[Any], bool],
        timeout: float,
        extends_wait: Callable[[Any], bool] = lambda message: False,
    ) -> tuple[str, Any]:
        """Print incoming messages until one matches.

        Returns ("matched", message), ("timeout", None) or ("eof", None). A
        message for which extends_wait is true restarts the timeout.
        """
        if self.output_closed:
            return "eof", None
        deadline = time.monotonic() + timeout
        while True:
            incoming = self.client.next_incoming(deadline - time.monotonic())
            if incoming is None:
                return "timeout", None
            if incoming.kind == "eof":
                self.output_closed = True
                return "eof", None
            if incoming.kind == "invalid":
                self.printer.invalid_output(incoming.text)
                self.fail("the sidecar wrote output that is not a JSON-RPC message")
                continue

            message = incoming.message
            matched = matches(message)
            self._observe(message, solicited=matched)
            if matched:
                return "matched", message
            if extends_wait(message):
                deadline = time.monotonic() + timeout

    def _await(self, matches: Callable[[Any], bool], description: str) -> Any:
        """Return the first message that matches, or None after recording a timeout or a closed stream."""
        outcome, message = self._pump(matches, self.timeout)
        if outcome == "timeout":
            self.fail(f"timed out after {self.timeout:g} s waiting for {description}")
        elif outcome == "eof":
            self.fail(f"the sidecar closed its stdout while the harness waited for {description}")
        return message

    def drain(self) -> None:
        """Print the messages that have already arrived, without waiting."""
        self._pump(lambda message: False, 0.0)

    def _observe(self, message: Any, solicited: bool) -> None:
        self.printer.message(message)
        if isinstance(message, dict) and "method" in message:
            self._record_notification(message)
        elif not solicited:
            self._record_unsolicited(message)

    def _record_notification(self, message: dict) -> None:
        if message["method"] != TASK_CREATED:
            return
        task_id = _task_id(message.get("params"))
        if task_id is None:
            self.fail(f"{TASK_CREATED} has no params.task.id")
        elif task_id in self._notified_task_ids:
            self.fail(f"{TASK_CREATED} for task {task_id} arrived a second time")
        else:
            self._notified_task_ids.add(task_id)

    def _record_unsolicited(self, message: Any) -> None:
        responses = message if isinstance(message, list) else [message]
        for response in responses:
            if isinstance(response, dict) and "error" in response:
                self.fail(
                    f"unexpected error response #{format_id(response.get('id'))}: "
                    f"{error_code(response['error'])}"
                )
            elif isinstance(response, dict) and "result" in response:
                self.printer.note(
                    f"response #{format_id(response.get('id'))} matches no pending request"
                )
            else:
                self.fail("the sidecar wrote a message that is neither a response nor a notification")

    # Boot

    def wait_for_boot(self) -> bool:
        """Wait for sidecar-ready or sidecar-degraded, and return False if neither arrived."""

        def is_boot(message: Any) -> bool:
            return isinstance(message, dict) and message.get("method") in BOOT_METHODS

        def is_progress(message: Any) -> bool:
            return isinstance(message, dict) and message.get("method") == "migration-progress"

        # Each migration-progress message restarts the timeout, because a long
        # migration is progress and not a hang.
        outcome, message = self._pump(is_boot, self.timeout, extends_wait=is_progress)
        if outcome == "timeout":
            self.fail(f"timed out after {self.timeout:g} s waiting for the boot notification")
            return False
        if outcome == "eof":
            self.fail("the sidecar closed its stdout before its boot notification")
            return False

        if message["method"] == "sidecar-degraded":
            params = message.get("params")
            info = params.get("error") if isinstance(params, dict) else None
            detail = error_code({"data": {"error": info}}) if isinstance(info, dict) else "?"
            self.fail(f"the sidecar booted degraded: {detail}")
        return True

    # Calls

    def run_line(self, line: ScriptLine) -> None:
        """Send one line, wait for its reply and any notification it promises, and check the outcome."""
        if line.method is not None:
            request_id = self._next_id
            self._next_id += 1
            body = json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "method": line.method, "params": line.params},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            expected: Optional[ExpectedReply] = ExpectedReply(batch=False, request_id=request_id)
            methods = {request_id: line.method}
            self.printer.request(line.method, request_id)
        else:
            assert line.raw is not None
            body = line.raw
            expected = expected_reply_for_raw(line.raw)
            methods = methods_by_request_id(line.raw)
            self.printer.raw_request(line.raw)
            # Keeps the ids the harness assigns later distinct from the raw ones.
            integer_ids = [key for key in methods if type(key) is int]
            self._next_id = max([self._next_id, *(key + 1 for key in integer_ids)])

        if self.output_closed or not self.client.send(body.encode("utf-8")):
            self.fail("the sidecar is not running, so the line was not sent")
            return
        if expected is None:
            if line.expect_error:
                self.printer.note("'!' has no effect on a notification, which gets no response")
            return

        reply = self._await(expected.matches, expected.describe())
        if reply is None:
            return
        responses = reply if isinstance(reply, list) else [reply]
        self._check_outcome(responses, line.expect_error)
        for response in responses:
            if isinstance(response, dict):
                self._check_response(methods, response, in_batch=expected.batch)

    def _check_outcome(self, responses: list, expect_error: bool) -> None:
        errors = [r for r in responses if isinstance(r, dict) and "error" in r]
        if expect_error and not errors:
            self.fail("expected an error response, but the call succeeded")
        if not expect_error:
            for response in errors:
                self.fail(
                    f"call #{format_id(response.get('id'))} failed: {error_code(response['error'])}"
                )

    def _check_response(self, methods: dict[Any, str], response: dict, in_batch: bool) -> None:
        request_id = response.get("id")
        method = methods.get(request_id) if isinstance(request_id, (str, int)) else None
        for problem in envelope_problems(method, response):
            self.fail(f"response #{format_id(request_id)}: {problem}")
        if "error" in response:
            return
        if method == "shutdown":
            self._shutdown_acknowledged = True
        if method == "create-marketing-task":
            self._await_task_created(response.get("result"), in_batch)

    def _await_task_created(self, result: Any, in_batch: bool) -> None:
        if not isinstance(result, dict) or result.get("replayed") is not False:
            return  # a replayed task, or a result envelope_problems already reported
        task_id = _task_id(result)
        if task_id is None:
            return
        if task_id in self._notified_task_ids:
            # A batch response is written after every call in it, so there the
            # notification may come first. A single call must send its response first.
            if not in_batch:
                self.fail(f"{TASK_CREATED} for task {task_id} arrived before its response")
            return

        def is_this_notification(message: Any) -> bool:
            return (
                isinstance(message, dict)
                and message.get("method") == TASK_CREATED
                and _task_id(message.get("params")) == task_id
            )

        self._await(is_this_notification, f"{TASK_CREATED} for task {task_id}")

    # Shutdown

    def shutdown(self) -> Optional[int]:
        """Send shutdown unless already acknowledged, close stdin, and return the exit status."""
        if not self.output_closed and not self._shutdown_acknowledged:
            self.run_line(ScriptLine(expect_error=False, method="shutdown", params={}))
        self.client.close_stdin()

        outcome, _ = self._pump(lambda message: False, self.timeout)
        if outcome == "timeout":
            self.fail(f"the sidecar kept its stdout open {self.timeout:g} s after shutdown")

        status = self.client.wait(self.timeout)
        if status is None:
            self.fail(f"the sidecar did not exit within {self.timeout:g} s after shutdown, so it was killed")
            return None
        self.printer.note(f"sidecar exited with status {status}")
        if status != 0:
            self.fail(f"the sidecar exited with status {status}")
        return status


def _task_id(container: Any) -> Any:
    if not isinstance(container, dict):
        return None
    task = container.get("task")
    if not isinstance(task, dict):
        return None
    return task.get("id")


def envelope_problems(method: Optional[str], response: dict) -> list[str]:
    """Return how a response breaks the result and error envelopes of the protocol."""
    problems = []
    if response.get("jsonrpc") != "2.0":
        problems.append('"jsonrpc" is not "2.0"')
    if ("result" in response) == ("error" in response):
        problems.append('a response needs exactly one of "result" and "error"')
        return problems

    if "error" in response:
        error = response["error"]
        data = error.get("data") if isinstance(error, dict) else None
        info = data.get("error") if isinstance(data, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("code"), str):
            problems.append("error.data.error.code is missing")
        elif data.get("success") is not False:
            problems.append("error.data.success is not false")
        return problems

    result = response["result"]
    # rpc.discover returns the bare OpenRPC document, while every other method wraps its result.
    if method == "rpc.discover":
        return problems
    if not isinstance(result, dict) or result.get("success") is not True:
        problems.append('result.success is not true')
    elif method == "create-marketing-task":
        if not isinstance(result.get("replayed"), bool):
            problems.append("result.replayed is not a boolean")
        if _task_id(result) is None:
            problems.append("result.task.id is missing")
    return problems


# --- Command line -----------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketing-sidecar-harness",
        description=(
            "Start the marketing sidecar, send it JSON-RPC calls line by line, "
            "and print every response and notification. Options not listed "
            "here (--db, --locale, --log-level, --max-message-bytes, ...) are "
            "passed to the sidecar."
        ),
        # Otherwise argparse would take an unknown flag that is a prefix of a
        # harness flag (--scr for --script) as the harness flag.
        allow_abbrev=False,
    )
    parser.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help="run the lines of FILE (UTF-8), send shutdown, and exit 1 if any call failed",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=(
            "maximum time to wait for each expected message, and for the sidecar "
            f"to exit after shutdown (default {DEFAULT_TIMEOUT_SECONDS:g})"
        ),
    )
    parser.add_argument(
        "--framing",
        choices=FRAMINGS,
        help="stdio framing; also passed to the sidecar (default: the sidecar's, ndjson)",
    )
    parser.add_argument(
        "--quiet-logs",
        action="store_true",
        help="discard the sidecar's stderr instead of showing it",
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"timeout must be greater than 0, got {text}")
    return value


def parse_arguments(argv: Optional[list[str]]) -> tuple[argparse.Namespace, list[str]]:
    """Split the command line into harness options and the sidecar's own flags."""
    options, passthrough = build_parser().parse_known_args(argv)
    if options.framing is not None:
        passthrough = [*passthrough, "--framing", options.framing]
    return options, passthrough


def sidecar_command(passthrough: list[str]) -> list[str]:
    return [sys.executable, "-m", "sidecar", *passthrough]


def _text_stdout() -> TextIO:
    # A pipe gets UTF-8 whatever the locale. A console keeps its own encoding
    # and shows characters it cannot encode as escapes.
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper):
        return stream
    if stream.isatty():
        stream.reconfigure(errors="backslashreplace")
    else:
        stream.reconfigure(encoding="utf-8")
    return stream


def _interactive_lines(session: HarnessSession) -> Iterator[str]:
    if not sys.stdin.isatty():
        yield from io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
        return
    try:
        import readline  # noqa: F401  (adds line editing and history to input())
    except ImportError:
        pass
    while True:
        # Notifications that came while the prompt was idle are printed here,
        # so output never lands in the middle of a line being typed.
        session.drain()
        if session.output_closed:
            return
        try:
            yield input("sidecar> ")
        except EOFError:
            # Ends the prompt line, so the shutdown output starts on its own line.
            session.printer.stream.write("\n")
            return


def _run_lines(session: HarnessSession, lines: Iterable[str], source: str) -> None:
    for number, text in enumerate(lines, start=1):
        try:
            line = parse_line(text)
        except LineSyntaxError as error:
            session.fail(f"{source} line {number}: {error}")
            continue
        if line is not None:
            session.run_line(line)


def _print_summary(session: HarnessSession) -> None:
    if session.failures:
        count = len(session.failures)
        session.printer.failure(f"{count} failure{'s' if count != 1 else ''}")
    else:
        session.printer.note("all calls gave the expected outcome")


def main(argv: Optional[list[str]] = None) -> int:
    """Run the harness and return its exit status."""
    options, passthrough = parse_arguments(argv)
    framing = options.framing or NDJSON

    script_lines: Optional[list[str]] = None
    if options.script is not None:
        try:
            # Split on newlines only: str.splitlines also breaks at U+2028 and
            # U+0085, which may sit inside a JSON string of a call.
            script_text = options.script.read_text(encoding="utf-8-sig")
            script_lines = [line.rstrip("\r") for line in script_text.split("\n")]
        except (OSError, UnicodeDecodeError) as error:
            print(f"marketing-sidecar-harness: cannot read script {options.script}: {error}",
                  file=sys.stderr)
            return EXIT_USAGE

    stdout = _text_stdout()
    printer = Printer(stdout, Palette(colour_enabled(stdout, dict(os.environ))))
    client = SidecarClient(sidecar_command(passthrough), framing, options.quiet_logs)
    client.start()
    session = HarnessSession(client, printer, options.timeout)
    try:
        if session.wait_for_boot():
            try:
                if script_lines is not None:
                    _run_lines(session, script_lines, str(options.script))
                else:
                    _run_lines(session, _interactive_lines(session), "input")
            except KeyboardInterrupt:
                printer.stream.write("\n")
                if script_lines is not None:
                    session.fail("interrupted, so the remaining lines were not sent")
                else:
                    printer.note("interrupted")
        status = session.shutdown()
    finally:
        client.stop()

    if script_lines is not None:
        _print_summary(session)
        return EXIT_FAILED if session.failures else EXIT_OK
    return EXIT_FAILED if status is None else status


if __name__ == "__main__":
    sys.exit(main())
