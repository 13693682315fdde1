"""Tests for the developer test harness.

The unit tests need no process. The process tests run the harness with
--script, either against a small fake sidecar written by the test (to force
misbehaviour that the real sidecar should never show) or against the real
sidecar on a temporary database.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sidecar import harness

try:
    import sidecar.cli  # noqa: F401
except ImportError as error:
    SIDECAR_IMPORT_ERROR: ImportError | None = error
else:
    SIDECAR_IMPORT_ERROR = None

requires_sidecar = pytest.mark.skipif(
    SIDECAR_IMPORT_ERROR is not None,
    reason=f"the sidecar package cannot be imported: {SIDECAR_IMPORT_ERROR}",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
HARNESS_PATH = REPO_ROOT / "sidecar" / "harness.py"
PROCESS_TIMEOUT_SECONDS = 60
PLAIN = harness.Palette(enabled=False)


# --- Line parser ------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "# a comment", "   # indented comment"])
def test_parse_line_skips_blank_and_comment(text):
    assert harness.parse_line(text) is None


def test_parse_line_method_without_params():
    line = harness.parse_line("get-status")

    assert line == harness.ScriptLine(expect_error=False, method="get-status", params={})


def test_parse_line_method_with_params():
    line = harness.parse_line(
        'create-marketing-task {"name": "测试001", "audience": {"source": "recent"}}'
    )

    assert line.method == "create-marketing-task"
    assert line.params == {"name": "测试001", "audience": {"source": "recent"}}
    assert line.expect_error is False
    assert line.raw is None


def test_parse_line_accepts_array_params():
    line = harness.parse_line("some-method [1, 2]")

    assert line.params == [1, 2]


@pytest.mark.parametrize("text", ['!get-marketing-task {"id": 5}', '! get-marketing-task {"id": 5}'])
def test_parse_line_expected_error_prefix(text):
    line = harness.parse_line(text)

    assert line.expect_error is True
    assert line.method == "get-marketing-task"
    assert line.params == {"id": 5}


@pytest.mark.parametrize(
    "text",
    [
        '{"jsonrpc": "2.0", "id": 1, "method": "get-status"}',
        '[{"jsonrpc": "2.0", "id": 1, "method": "get-status"}]',
        "{not json at all",
    ],
)
def test_parse_line_raw_json_sent_as_written(text):
    line = harness.parse_line("  " + text + "  ")

    assert line.raw == text
    assert line.method is None


def test_parse_line_raw_with_expected_error():
    line = harness.parse_line("!{broken")

    assert line.expect_error is True
    assert line.raw == "{broken"


@pytest.mark.parametrize(
    "text",
    ["get-status {broken", 'get-status "text"', "get-status 5", "!", "!   "],
)
def test_parse_line_rejects_invalid_line(text):
    with pytest.raises(harness.LineSyntaxError):
        harness.parse_line(text)


# --- Expected replies for raw lines ------------------------------------------


def test_expected_reply_for_request():
    expected = harness.expected_reply_for_raw('{"jsonrpc": "2.0", "id": "a", "method": "x"}')

    assert expected == harness.ExpectedReply(batch=False, request_id="a")


def test_expected_reply_none_for_notification():
    assert harness.expected_reply_for_raw('{"jsonrpc": "2.0", "method": "x"}') is None


@pytest.mark.parametrize("text", ["{broken", "[]", "5", '{"jsonrpc": "2.0"}'])
def test_expected_reply_null_id_for_unreadable(text):
    expected = harness.expected_reply_for_raw(text)

    assert expected == harness.ExpectedReply(batch=False, request_id=None)


def test_expected_reply_batch_with_request():
    text = '[{"jsonrpc": "2.0", "id": 1, "method": "x"}, {"jsonrpc": "2.0", "method": "y"}]'

    assert harness.expected_reply_for_raw(text) == harness.ExpectedReply(batch=True)


def test_expected_reply_none_for_notification_batch():
    text = '[{"jsonrpc": "2.0", "method": "x"}, {"jsonrpc": "2.0", "method": "y"}]'

    assert harness.expected_reply_for_raw(text) is None


def test_expected_reply_invalid_notification_gets_error():
    expected = harness.expected_reply_for_raw('{"method": "get-status"}')

    assert expected == harness.ExpectedReply(batch=False, request_id=None)


def test_expected_reply_accepts_null_id_error():
    null_error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "too large"}}
    null_result = {"jsonrpc": "2.0", "id": None, "result": {}}

    assert harness.ExpectedReply(batch=False, request_id=4).matches(null_error)
    assert harness.ExpectedReply(batch=True).matches(null_error)
    assert not harness.ExpectedReply(batch=False, request_id=4).matches(null_result)


def test_expected_reply_id_match_is_type_strict():
    expected = harness.ExpectedReply(batch=False, request_id=1)

    assert expected.matches({"jsonrpc": "2.0", "id": 1, "result": {}})
    assert not expected.matches({"jsonrpc": "2.0", "id": "1", "result": {}})
    assert not expected.matches({"jsonrpc": "2.0", "id": 2, "error": {}})
    assert not expected.matches({"jsonrpc": "2.0", "id": 1, "method": "x"})
    assert not expected.matches([{"jsonrpc": "2.0", "id": 1, "result": {}}])


def test_expected_reply_batch_needs_array():
    expected = harness.ExpectedReply(batch=True)

    assert expected.matches([])
    assert not expected.matches({"jsonrpc": "2.0", "id": 1, "result": {}})


def test_methods_by_request_id_for_batch():
    text = json.dumps(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "get-status"},
            {"jsonrpc": "2.0", "method": "note"},
            {"jsonrpc": "2.0", "id": "c", "method": "create-marketing-task"},
        ]
    )

    assert harness.methods_by_request_id(text) == {1: "get-status", "c": "create-marketing-task"}


# --- Printer ----------------------------------------------------------------


def test_format_request():
    assert harness.format_request("create-marketing-task", 3, PLAIN) == "→ create-marketing-task #3"


def test_format_response_ok_keeps_non_ascii():
    message = {"jsonrpc": "2.0", "id": 3, "result": {"success": True, "name": "测试001"}}

    text = harness.format_response(message, PLAIN)

    assert text.startswith("← #3 ok {\n")
    assert '"name": "测试001"' in text
    assert "\\u" not in text


def test_format_response_error_uses_stable_code():
    message = {
        "jsonrpc": "2.0",
        "id": 4,
        "error": {
            "code": -32602,
            "message": "Invalid params",
            "data": {
                "success": False,
                "error": {
                    "code": "VALIDATION_FAILED",
                    "message": "Invalid params",
                    "userMessage": "參數無效",
                    "retryable": False,
                    "fields": [{"path": "audience.minIntentScore", "message": "must be <= 100"}],
                },
            },
        },
    }

    lines = harness.format_response(message, PLAIN).splitlines()

    assert lines[0] == "← #4 error VALIDATION_FAILED: Invalid params"
    assert "    audience.minIntentScore: must be <= 100" in lines
    assert "    userMessage: 參數無效" in lines
    assert not any("retryable" in line for line in lines)


def test_format_response_error_without_data_uses_number():
    message = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}

    assert harness.format_response(message, PLAIN) == "← #null error -32700: Parse error"


def test_format_response_shows_retryable():
    error_info = {"code": "DATABASE_BUSY", "message": "busy", "userMessage": "busy", "retryable": True}
    message = {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32002, "message": "busy", "data": {"success": False, "error": error_info}},
    }

    assert "    retryable: true" in harness.format_response(message, PLAIN).splitlines()


def test_format_notification():
    message = {"jsonrpc": "2.0", "method": "marketing-task-created", "params": {"seq": 1}}

    text = harness.format_notification(message, PLAIN)

    assert text == '↯ marketing-task-created {\n  "seq": 1\n}'


def test_format_migration_progress():
    message = {
        "jsonrpc": "2.0",
        "method": "migration-progress",
        "params": {"name": "002_add_x", "index": 2, "total": 5},
    }

    assert harness.format_notification(message, PLAIN) == "migrating 2/5 002_add_x"


def test_palette_colours_only_when_enabled():
    assert harness.Palette(enabled=False).paint("ok", harness.ANSI_GREEN) == "ok"
    assert harness.Palette(enabled=True).paint("ok", harness.ANSI_GREEN) == "\x1b[32mok\x1b[0m"


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_colour_enabled_on_terminal():
    assert harness.colour_enabled(FakeTerminal(), {}) is True


@pytest.mark.parametrize("value", ["1", ""])
def test_colour_disabled_by_no_color(value):
    assert harness.colour_enabled(FakeTerminal(), {"NO_COLOR": value}) is False


def test_colour_disabled_on_pipe():
    assert harness.colour_enabled(io.StringIO(), {}) is False


def test_printer_writes_whole_blocks():
    stream = io.StringIO()
    printer = harness.Printer(stream, PLAIN)

    printer.message([
        {"jsonrpc": "2.0", "id": 1, "result": {"success": True}},
        {"jsonrpc": "2.0", "id": 2, "error": {"code": -32601, "message": "Method not found"}},
    ])
    printer.failure("something failed")

    assert stream.getvalue() == (
        '← #1 ok {\n  "success": true\n}\n'
        "← #2 error -32601: Method not found\n"
        "✗ something failed\n"
    )


# --- Framing ----------------------------------------------------------------


def test_ndjson_frames_round_trip():
    stream = io.BytesIO(b'{"a": 1}\r\n\n  \n' + harness.encode_frame('{"b": "测"}'.encode(), "ndjson"))

    assert harness.read_frame(stream, "ndjson") == b'{"a": 1}'
    assert harness.read_frame(stream, "ndjson") == '{"b": "测"}'.encode()
    assert harness.read_frame(stream, "ndjson") is None


def test_content_length_counts_bytes():
    body = '{"name": "测试001"}'.encode("utf-8")

    frame = harness.encode_frame(body, "content-length")

    assert frame.startswith(f"Content-Length: {len(body)}\r\n\r\n".encode())
    assert len(body) > len('{"name": "测试001"}')
    stream = io.BytesIO(frame + frame)
    assert harness.read_frame(stream, "content-length") == body
    assert harness.read_frame(stream, "content-length") == body
    assert harness.read_frame(stream, "content-length") is None


def test_content_length_accepts_other_headers():
    stream = io.BytesIO(
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 2\r\n\r\n{}"
    )

    assert harness.read_frame(stream, "content-length") == b"{}"


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Length: 10\r\n\r\n{}",
        b"Content-Type: x\r\n\r\n{}",
        b"Content-Length: ten\r\n\r\n",
        b"no colon here\r\n\r\n",
        b"Content-Length: 2\r\n",
    ],
)
def test_content_length_rejects_bad_frame(data):
    with pytest.raises(harness.FramingError):
        harness.read_frame(io.BytesIO(data), "content-length")


def test_decode_message_reports_bad_output():
    assert harness.decode_message(b'{"a": 1}') == harness.Incoming("message", message={"a": 1})
    assert harness.decode_message(b"\xff").kind == "invalid"
    assert harness.decode_message(b"hello").kind == "invalid"


# --- Command line and envelopes ----------------------------------------------


def test_parse_arguments_passes_unknown_flags():
    options, passthrough = harness.parse_arguments(
        ["--db", "x.db", "--script", "s.txt", "--locale", "zh-TW", "--timeout", "3"]
    )

    assert options.script == Path("s.txt")
    assert options.timeout == 3.0
    assert passthrough == ["--db", "x.db", "--locale", "zh-TW"]


def test_parse_arguments_forwards_framing():
    options, passthrough = harness.parse_arguments(["--framing=content-length", "--db", "x.db"])

    assert options.framing == "content-length"
    assert passthrough == ["--db", "x.db", "--framing", "content-length"]


def test_parse_arguments_does_not_expand_abbreviations():
    options, passthrough = harness.parse_arguments(["--scr", "x"])

    assert options.script is None
    assert passthrough == ["--scr", "x"]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_parse_arguments_rejects_bad_timeout(value):
    with pytest.raises(SystemExit):
        harness.parse_arguments(["--timeout", value])


def test_sidecar_command_runs_module():
    assert harness.sidecar_command(["--db", "x.db"]) == [sys.executable, "-m", "sidecar", "--db", "x.db"]


def test_envelope_accepts_conforming_responses():
    ok = {"jsonrpc": "2.0", "id": 1, "result": {"success": True, "replayed": False, "task": {"id": 1}}}
    error = {
        "jsonrpc": "2.0",
        "id": 2,
        "error": {"code": -32005, "message": "x", "data": {"success": False, "error": {"code": "NOT_FOUND"}}},
    }
    discover = {"jsonrpc": "2.0", "id": 3, "result": {"openrpc": "1.2.6"}}

    assert harness.envelope_problems("create-marketing-task", ok) == []
    assert harness.envelope_problems("get-marketing-task", error) == []
    assert harness.envelope_problems("rpc.discover", discover) == []


def test_envelope_reports_missing_parts():
    no_success = {"jsonrpc": "2.0", "id": 1, "result": {"tasks": []}}
    no_code = {"jsonrpc": "2.0", "id": 2, "error": {"code": -32603, "message": "x"}}
    no_replayed = {"jsonrpc": "2.0", "id": 3, "result": {"success": True, "task": {"id": 1}}}

    assert harness.envelope_problems("list-marketing-tasks", no_success) == ["result.success is not true"]
    assert harness.envelope_problems("get-status", no_code) == ["error.data.error.code is missing"]
    assert harness.envelope_problems("create-marketing-task", no_replayed) == [
        "result.replayed is not a boolean"
    ]


# --- Process tests: shared helpers -------------------------------------------


def _environment(*paths: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("NO_COLOR", None)
    entries = [str(path) for path in paths]
    if environment.get("PYTHONPATH"):
        entries.append(environment["PYTHONPATH"])
    environment["PYTHONPATH"] = os.pathsep.join(entries)
    return environment


def _run(command: list[str], environment: dict[str, str], cwd: Path, stdin_text: str = ""):
    return subprocess.run(
        command,
        input=stdin_text,
        capture_output=True,
        encoding="utf-8",
        env=environment,
        cwd=cwd,
        timeout=PROCESS_TIMEOUT_SECONDS,
    )


def _write_script(tmp_path: Path, text: str) -> Path:
    script = tmp_path / "calls.txt"
    script.write_text(textwrap.dedent(text), encoding="utf-8")
    return script


# --- Process tests against a fake sidecar ------------------------------------

# A stand-in sidecar that speaks both framings and misbehaves on request
# (--fake-mode), for the failure paths the real sidecar should never take.
FAKE_SIDECAR = r'''
import json
import sys

args = sys.argv[1:]
mode = args[args.index("--fake-mode") + 1]
framing = args[args.index("--framing") + 1] if "--framing" in args else "ndjson"
stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


def write(message):
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    if framing == "content-length":
        stdout.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    else:
        stdout.write(body + b"\n")
    stdout.flush()


def read():
    if framing == "content-length":
        length = 0
        while True:
            line = stdin.readline()
            if not line:
                return None
            if not line.strip():
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return json.loads(stdin.read(length).decode("utf-8"))
    while True:
        line = stdin.readline()
        if not line:
            return None
        if line.strip():
            return json.loads(line.decode("utf-8"))


def notify(method, params):
    write({"jsonrpc": "2.0", "method": method, "params": params})


sys.stderr.write("fake sidecar log line\n")
sys.stderr.flush()
if mode == "migrations":
    notify("migration-progress", {"name": "001_init", "index": 1, "total": 2})
    notify("migration-progress", {"name": "002_add_tags", "index": 2, "total": 2})
if mode == "degraded":
    error = {"code": "DATABASE_NOT_READY", "message": "migration failed",
             "userMessage": "database not ready", "retryable": False}
    notify("sidecar-degraded", {"version": "0", "dbPath": "/x.db", "error": error})
else:
    notify("sidecar-ready", {"version": "0", "dbPath": "/x.db", "schemaVersion": "001_init",
                             "migrationsApplied": [], "backupPath": None, "pid": 1})

task = {"id": 7, "name": "测试001"}
while True:
    request = read()
    if request is None:
        sys.exit(0)
    if mode == "crash":
        sys.exit(3)
    result = {"success": True}
    created = request["method"] == "create-marketing-task"
    if created:
        result.update(replayed=False, task=task)
    if created and mode == "early-notification":
        notify("marketing-task-created", {"seq": 1, "task": task})
    write({"jsonrpc": "2.0", "id": request["id"], "result": result})
    if created and mode in ("notify", "migrations"):
        notify("marketing-task-created", {"seq": 1, "task": task})
    if request["method"] == "shutdown":
        sys.exit(0)
'''

CREATE_TASK_LINE = 'create-marketing-task {"name": "测试001", "audience": {"source": "recent"}}\n'


def _run_with_fake(tmp_path: Path, mode: str, *flags: str, script: str = CREATE_TASK_LINE):
    package = tmp_path / "fake" / "sidecar"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "__main__.py").write_text(FAKE_SIDECAR, encoding="utf-8")
    script_path = _write_script(tmp_path, script)
    # Run the harness by file path, so that `python -m sidecar` in its child
    # finds the fake package first on PYTHONPATH.
    command = [
        sys.executable, str(HARNESS_PATH), "--script", str(script_path),
        "--timeout", "2", "--fake-mode", mode, *flags,
    ]
    return _run(command, _environment(tmp_path / "fake"), tmp_path)


def test_fake_notified_task_passes(tmp_path):
    completed = _run_with_fake(tmp_path, "notify")

    assert completed.returncode == 0, completed.stdout
    assert "↯ sidecar-ready {" in completed.stdout
    assert "→ create-marketing-task #1" in completed.stdout
    assert "← #1 ok {" in completed.stdout
    assert "↯ marketing-task-created {" in completed.stdout
    assert "→ shutdown #2" in completed.stdout
    assert "\x1b[" not in completed.stdout


def test_fake_content_length_framing(tmp_path):
    completed = _run_with_fake(tmp_path, "notify", "--framing", "content-length")

    assert completed.returncode == 0, completed.stdout
    assert "↯ marketing-task-created {" in completed.stdout
    assert '"name": "测试001"' in completed.stdout


def test_fake_missing_notification_fails(tmp_path):
    completed = _run_with_fake(tmp_path, "silent")

    assert completed.returncode == 1, completed.stdout
    assert "timed out after 2 s waiting for marketing-task-created for task 7" in completed.stdout


def test_fake_early_notification_fails(tmp_path):
    completed = _run_with_fake(tmp_path, "early-notification")

    assert completed.returncode == 1, completed.stdout
    assert "marketing-task-created for task 7 arrived before its response" in completed.stdout


def test_fake_crash_fails(tmp_path):
    completed = _run_with_fake(tmp_path, "crash")

    assert completed.returncode == 1, completed.stdout
    assert "closed its stdout while the harness waited for the response to #1" in completed.stdout
    assert "the sidecar exited with status 3" in completed.stdout


def test_fake_degraded_boot_fails(tmp_path):
    completed = _run_with_fake(tmp_path, "degraded", script="get-status\n")

    assert completed.returncode == 1, completed.stdout
    assert "↯ sidecar-degraded {" in completed.stdout
    assert "booted degraded: DATABASE_NOT_READY" in completed.stdout


def test_fake_migration_progress_shown(tmp_path):
    completed = _run_with_fake(tmp_path, "migrations")

    assert completed.returncode == 0, completed.stdout
    assert "migrating 1/2 001_init\nmigrating 2/2 002_add_tags\n↯ sidecar-ready" in completed.stdout


def test_fake_stderr_passes_through(tmp_path):
    completed = _run_with_fake(tmp_path, "notify")

    assert "fake sidecar log line" in completed.stderr


def test_fake_quiet_logs_discards_stderr(tmp_path):
    completed = _run_with_fake(tmp_path, "notify", "--quiet-logs")

    assert completed.returncode == 0, completed.stdout
    assert "fake sidecar log line" not in completed.stderr


def test_fake_script_syntax_error_fails(tmp_path):
    completed = _run_with_fake(tmp_path, "notify", script="get-status {broken\n")

    assert completed.returncode == 1, completed.stdout
    assert "line 1: params of get-status are not valid JSON" in completed.stdout


def test_fake_ids_skip_raw_ids(tmp_path):
    script = '{"jsonrpc": "2.0", "id": 5, "method": "get-status"}\nget-status\n'

    completed = _run_with_fake(tmp_path, "notify", script=script)

    assert completed.returncode == 0, completed.stdout
    assert "← #5 ok {" in completed.stdout
    assert "→ get-status #6" in completed.stdout


def test_missing_script_is_usage_error(tmp_path):
    command = [sys.executable, str(HARNESS_PATH), "--script", str(tmp_path / "absent.txt")]

    completed = _run(command, _environment(), tmp_path)

    assert completed.returncode == 2
    assert "cannot read script" in completed.stderr


# --- Process tests against the real sidecar ----------------------------------


def _run_real(tmp_path: Path, script: str, *flags: str):
    script_path = _write_script(tmp_path, script)
    command = [
        sys.executable, "-m", "sidecar.harness", "--script", str(script_path),
        "--db", str(tmp_path / "h.db"), "--timeout", "10", *flags,
    ]
    return _run(command, _environment(REPO_ROOT), tmp_path)


UPSERT_AND_CREATE = """\
    # two contacts, then a task for both of them
    upsert-contacts {"contacts": [{"externalId": "tg:10001", "displayName": "王小明", "intentScore": 80, "lastContactedAt": null, "tags": ["vip"], "groups": ["北區"]}, {"externalId": "tg:10002", "displayName": "Alice", "intentScore": 20, "lastContactedAt": null, "tags": [], "groups": []}]}
    create-marketing-task {"name": "测试001", "audience": {"source": "manual", "contactIds": ["tg:10001", "tg:10002"]}}
    list-marketing-tasks
"""


@requires_sidecar
def test_real_upsert_and_create_passes(tmp_path):
    completed = _run_real(tmp_path, UPSERT_AND_CREATE)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "↯ sidecar-ready {" in completed.stdout
    assert "← #2 ok {" in completed.stdout
    assert '"replayed": false' in completed.stdout
    assert "↯ marketing-task-created {" in completed.stdout
    assert '"name": "测试001"' in completed.stdout
    assert "sidecar exited with status 0" in completed.stdout


@requires_sidecar
def test_real_content_length_framing(tmp_path):
    completed = _run_real(tmp_path, UPSERT_AND_CREATE, "--framing", "content-length")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "↯ marketing-task-created {" in completed.stdout


@requires_sidecar
def test_real_failing_call_fails(tmp_path):
    completed = _run_real(tmp_path, 'get-marketing-task {"id": 999999}\n')

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "← #1 error NOT_FOUND: " in completed.stdout


@requires_sidecar
def test_real_expected_error_passes(tmp_path):
    script = """\
        !get-marketing-task {"id": 999999}
        !create-marketing-task {"name": "", "audience": {"source": "recent"}}
        !no-such-method
        !{not json
    """

    completed = _run_real(tmp_path, script)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "← #1 error NOT_FOUND: " in completed.stdout
    assert "← #2 error VALIDATION_FAILED: " in completed.stdout
    assert "← #3 error METHOD_NOT_FOUND: " in completed.stdout
    assert "← #null error PARSE_ERROR: " in completed.stdout


@requires_sidecar
def test_real_oversized_message_skipped(tmp_path):
    script = """\
        !get-status {"padding": "%s"}
        !{"method": "get-status"}
        get-status
    """ % ("x" * 300)

    completed = _run_real(tmp_path, script, "--max-message-bytes", "200")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("← #null error INVALID_REQUEST: ") == 2
    assert "← #2 ok {" in completed.stdout


@requires_sidecar
def test_real_expected_error_success_fails(tmp_path):
    completed = _run_real(tmp_path, "!get-status\n")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "expected an error response, but the call succeeded" in completed.stdout


@requires_sidecar
def test_real_replayed_create_not_notified(tmp_path):
    create = (
        'create-marketing-task {"name": "测试002", "audience": {"source": "recent"}, '
        '"clientRequestId": "req-1"}\n'
    )

    completed = _run_real(tmp_path, create + create)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert '"replayed": true' in completed.stdout
    assert completed.stdout.count("↯ marketing-task-created {") == 1


@requires_sidecar
def test_real_raw_lines_and_batch(tmp_path):
    script = """\
        {"jsonrpc": "2.0", "id": "s1", "method": "get-status", "params": {}}
        {"jsonrpc": "2.0", "method": "get-status"}
        [{"jsonrpc": "2.0", "id": "b1", "method": "get-status"}, {"jsonrpc": "2.0", "id": "b2", "method": "list-events", "params": {"afterSeq": 0}}]
    """

    completed = _run_real(tmp_path, script)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "← #s1 ok {" in completed.stdout
    assert "← #b1 ok {" in completed.stdout
    assert "← #b2 ok {" in completed.stdout


@requires_sidecar
def test_real_unusable_database_fails(tmp_path):
    (tmp_path / "h.db").write_bytes(b"this is not an SQLite database" * 200)

    completed = _run_real(tmp_path, "get-status\n")

    assert completed.returncode == 1, completed.stdout + completed.stderr


@requires_sidecar
def test_real_interactive_returns_sidecar_status(tmp_path):
    command = [sys.executable, "-m", "sidecar.harness", "--db", str(tmp_path / "h.db")]

    completed = _run(command, _environment(REPO_ROOT), tmp_path, stdin_text="get-status\n")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "← #1 ok {" in completed.stdout
    assert "→ shutdown #2" in completed.stdout


@requires_sidecar
def test_real_line_separator_inside_json_string(tmp_path):
    # U+2028 and U+0085 are line breaks to str.splitlines but not to the
    # script format, whose lines end at a newline only.
    script = 'create-marketing-task {"name": "a\u2028b\u0085c", "audience": {"source": "recent"}}\n'
    completed = _run_real(tmp_path, script)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "METHOD_NOT_FOUND" not in completed.stdout
    assert "↯ marketing-task-created {" in completed.stdout
