"""The protocol writer: the only code that writes to stdout."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)


class OutputClosed(Exception):
    """stdout is gone (the shell closed the pipe); nothing more can be sent."""


def encode_message(message: Any) -> bytes:
    # ensure_ascii keeps every byte ASCII, so no raw newline or invalid UTF-8
    # can reach the pipe whatever the strings hold (lone surrogates included).
    return json.dumps(message, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


class ProtocolWriter:
    """Frame, write and flush whole messages under a lock."""

    def __init__(self, stream: BinaryIO, framing: str) -> None:
        self.stream = stream
        self.framing = framing
        self.lock = threading.Lock()
        self.closed = False

    def write_message(self, message: Any) -> None:
        self.write_encoded(encode_message(message))

    def write_encoded(self, body: bytes) -> None:
        if self.framing == "content-length":
            data = b"Content-Length: %d\r\n\r\n" % len(body) + body
        else:
            data = body + b"\n"

        with self.lock:
            if self.closed:
                raise OutputClosed()
            try:
                self.stream.write(data)
                self.stream.flush()
            except (BrokenPipeError, ValueError, OSError) as error:
                self.closed = True
                raise OutputClosed() from error

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.write_message({"jsonrpc": "2.0", "method": method, "params": params})
