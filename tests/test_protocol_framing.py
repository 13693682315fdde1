"""Framing: NDJSON and LSP Content-Length, on in-memory streams, over real pipes, and from a Node client."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess

import pytest

from sidecar.transport.framing import ContentLengthReader, NdjsonReader
from sidecar_process import sidecar_command


def frame(message) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(request_id, method="get-status", params=None) -> dict:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def error_code(response: dict) -> str:
    return response["error"]["data"]["error"]["code"]


# --- readers on in-memory streams ------------------------------------------------


def test_content_length_reader_splits_frames():
    stream = io.BytesIO(b"Content-Length: 2\r\n\r\n{}Content-Length: 3\r\nContent-Type: x\r\n\r\n[1]")

    frames = list(ContentLengthReader(stream, 100))

    assert [f.body for f in frames] == [b"{}", b"[1]"]


def test_content_length_reader_reports_oversized_then_continues():
    stream = io.BytesIO(b"Content-Length: 200\r\n\r\n" + b"x" * 200 + b"Content-Length: 2\r\n\r\n{}")

    frames = list(ContentLengthReader(stream, 100))

    assert frames[0].body is None
    assert "200 bytes" in frames[0].error
    assert frames[1].body == b"{}"


def test_content_length_reader_rejects_missing_length():
    stream = io.BytesIO(b"Content-Type: x\r\n\r\nContent-Length: 2\r\n\r\n{}")

    frames = list(ContentLengthReader(stream, 100))

    assert frames[0].error is not None
    assert frames[1].body == b"{}"


def test_content_length_reader_stops_at_truncated_body():
    frames = list(ContentLengthReader(io.BytesIO(b"Content-Length: 10\r\n\r\n{}"), 100))

    assert frames == []


def test_ndjson_reader_line_endings_and_blanks():
    stream = io.BytesIO(b'{"a":1}\r\n\n   \r\n{"b":2}\n{"c":3}')

    frames = list(NdjsonReader(stream, 100))

    assert [f.body for f in frames] == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_ndjson_reader_skips_long_line():
    stream = io.BytesIO(b"x" * 500 + b"\n" + b'{"a":1}\n')

    frames = list(NdjsonReader(stream, 100))

    assert frames[0].error is not None
    assert frames[1].body == b'{"a":1}'


# --- Content-Length over pipes ---------------------------------------------------


@pytest.fixture
def framed(spawn, db_path):
    process = spawn(db_path, "--max-message-bytes", "1000", framing="content-length")
    process.wait_ready()
    return process


def test_content_length_round_trip(framed):
    framed.send_bytes(frame(request(1, "create-marketing-task", {"name": "分帧 😀", "audience": {"source": "recent"}})))

    response = framed.read_message()
    notification = framed.read_message()

    assert response["id"] == 1
    assert response["result"]["task"]["name"] == "分帧 😀"
    assert notification["method"] == "marketing-task-created"


def test_content_length_frame_split_across_writes(framed):
    data = frame(request(2))

    framed.send_bytes(data[:7])
    framed.send_bytes(data[7:25])
    framed.send_bytes(data[25:-3])
    framed.send_bytes(data[-3:])

    assert framed.read_message()["id"] == 2


def test_content_length_two_frames_in_one_write(framed):
    framed.send_bytes(frame(request(3)) + frame(request(4)))

    assert [framed.read_message()["id"], framed.read_message()["id"]] == [3, 4]


def test_content_length_oversized_frame_answered_before_body_ends(framed):
    """The error comes as soon as the header is read; the body is skipped as it arrives."""
    body = json.dumps(request(5, params={"padding": "p" * 5000})).encode()
    framed.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])

    error = framed.read_message()
    framed.send_bytes(body[100:] + frame(request(6)))

    assert error_code(error) == "INVALID_REQUEST"
    assert error["id"] is None
    assert framed.read_message()["id"] == 6


def test_content_length_header_missing(framed):
    framed.send_bytes(b"Content-Type: application/json\r\n\r\n")

    error = framed.read_message()
    framed.send_bytes(frame(request(7)))

    assert error_code(error) == "INVALID_REQUEST"
    assert framed.read_message()["id"] == 7


def test_content_length_counts_bytes_not_characters(framed):
    framed.send_bytes(frame(request(8, "estimate-audience", {"audience": {"source": "tag", "tags": ["标签" * 30]}})))

    assert framed.read_message()["result"]["success"] is True


def test_content_length_output_frames_are_exact(framed):
    framed.send_bytes(frame(request(9)))
    framed.read_message()

    for body in framed.raw_lines:
        assert b"\n" not in body
        json.loads(body)


# --- NDJSON over pipes -------------------------------------------------------------


def test_ndjson_crlf_and_blank_lines(sidecar):
    lines_before = len(sidecar.raw_lines)

    sidecar.send_bytes(b"\r\n\n   \n" + json.dumps(request(11)).encode() + b"\r\n")

    assert sidecar.read_message()["id"] == 11
    assert len(sidecar.raw_lines) == lines_before + 1


def test_ndjson_split_and_joined_writes(sidecar):
    first, second = json.dumps(request(12)).encode(), json.dumps(request(13)).encode()

    sidecar.send_bytes(first[:10])
    sidecar.send_bytes(first[10:] + b"\n" + second + b"\n")

    assert [sidecar.read_message()["id"], sidecar.read_message()["id"]] == [12, 13]


def test_ndjson_last_line_without_newline(sidecar):
    sidecar.send_bytes(json.dumps(request(14)).encode())
    sidecar.close_stdin()

    assert sidecar.read_message()["id"] == 14
    assert sidecar.wait_exit() == 0


def test_ndjson_output_has_one_message_per_line(sidecar):
    params = {"name": "line\nbreak\u2028sep", "audience": {"source": "recent"}, "messageTemplate": "a\r\nb"}

    response, _ = sidecar.request("create-marketing-task", params)

    assert response["result"]["task"]["messageTemplate"] == "a\r\nb"
    for line in sidecar.raw_lines:
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert line.isascii()


# --- a real Node client --------------------------------------------------------------


def test_node_vscode_jsonrpc_client(node_project, db_path):
    completed = subprocess.run(
        ["node", str(node_project / "client.mjs"), str(db_path)],
        env={**os.environ, "SIDECAR_COMMAND": json.dumps(sidecar_command())},
        capture_output=True,
        timeout=90,
    )

    assert completed.returncode == 0, completed.stderr.decode("utf-8", "replace")
    summary = json.loads(completed.stdout)
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        stored = connection.execute("SELECT name FROM marketing_tasks WHERE id = ?", (summary["taskId"],)).fetchone()
        event = connection.execute("SELECT task_id FROM marketing_events WHERE seq = ?", (summary["seq"],)).fetchone()
    finally:
        connection.close()
    assert stored == (summary["name"],)
    assert event == (summary["taskId"],)
    assert summary["exitCode"] == 0
