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
        self.write_encoded_many([body])

    def write_encoded_many(self, bodies: list[bytes]) -> None:
        """Frame the messages and write them with one system call where the pipe takes it.

        A response and the notifications that follow it go out together, so
        the reader wakes once for both.
        """
        if self.framing == "content-length":
            data = b"".join(b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies)
        else:
            data = b"".join(body + b"\n" for body in bodies)

        with self.lock:
            if self.closed:
                raise OutputClosed()
            try:
                self._write_all(memoryview(data))
            except (BrokenPipeError, ValueError, OSError) as error:
                self.closed = True
                raise OutputClosed() from error

    def _write_all(self, data: memoryview) -> None:
        # An unbuffered pipe may take only part of a large write, for example
        # when a signal arrives meanwhile. The rest must follow, or the stream
        # would end in half a message.
        while data:
            written = self.stream.write(data)
            data = data[written or 0:]
        self.stream.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.write_message({"jsonrpc": "2.0", "method": method, "params": params})
