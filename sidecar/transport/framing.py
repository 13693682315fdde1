"""Split the input byte stream into message bodies: NDJSON or LSP Content-Length.

A reader yields Frame objects. A frame that is too large or malformed becomes
an error frame and its bytes are skipped, so the stream stays usable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Frame:
    body: bytes | None
    # Set instead of body when the frame could not be taken whole.
    error: str | None = None


class FrameReader(Protocol):
    def __iter__(self) -> Iterator[Frame]: ...


class NdjsonReader:
    """One JSON value per line; CRLF accepted, blank lines ignored."""

    def __init__(self, stream: BinaryIO, max_message_bytes: int) -> None:
        self.stream = stream
        self.max_message_bytes = max_message_bytes

    def __iter__(self) -> Iterator[Frame]:
        while True:
            line = self.stream.readline(self.max_message_bytes + 2)
            if not line:
                return

            if not line.endswith(b"\n") and len(line) > self.max_message_bytes:
                complete = self._discard_rest_of_line()
                yield Frame(None, _too_large(self.max_message_bytes))
                if not complete:
                    return
                continue

            body = line.rstrip(b"\r\n")
            if len(body) > self.max_message_bytes:
                yield Frame(None, _too_large(self.max_message_bytes))
                continue
            if body.strip():
                yield Frame(body)

    def _discard_rest_of_line(self) -> bool:
        """Read up to the next newline; return False when the stream ended first."""
        while True:
            chunk = self.stream.readline(_CHUNK)
            if not chunk:
                return False
            if chunk.endswith(b"\n"):
                return True


class ContentLengthReader:
    """The LSP base protocol: headers, a blank line, then Content-Length bytes."""

    def __init__(self, stream: BinaryIO, max_message_bytes: int) -> None:
        self.stream = stream
        self.max_message_bytes = max_message_bytes

    def __iter__(self) -> Iterator[Frame]:
        while True:
            headers = self._read_headers()
            if headers is None:
                return

            length_text = headers.get("content-length")
            if length_text is None or not length_text.isdigit():
                yield Frame(None, "Frame has no valid Content-Length header")
                continue

            length = int(length_text)
            if length > self.max_message_bytes:
                # The error is reported before the body is skipped, so that
                # the client gets it while it may still be sending.
                yield Frame(None, _too_large(self.max_message_bytes, length))
                if not self._skip(length):
                    return
                continue

            body = self.stream.read(length)
            if len(body) < length:
                return
            yield Frame(body)

    def _read_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        while True:
            line = self.stream.readline(_CHUNK)
            if not line:
                return None
            text = line.decode("ascii", errors="replace").strip()
            if not text:
                if headers:
                    return headers
                continue
            name, _, value = text.partition(":")
            headers[name.strip().lower()] = value.strip()

    def _skip(self, length: int) -> bool:
        remaining = length
        while remaining:
            chunk = self.stream.read(min(remaining, _CHUNK))
            if not chunk:
                return False
            remaining -= len(chunk)
        return True


def _too_large(limit: int, length: int | None = None) -> str:
    size = f"Message of {length} bytes" if length is not None else "Message"
    return f"{size} exceeds the limit of {limit} bytes and was skipped; start the sidecar with a larger --max-message-bytes"


def make_reader(framing: str, stream: BinaryIO, max_message_bytes: int) -> FrameReader:
    if framing == "content-length":
        return ContentLengthReader(stream, max_message_bytes)
    return NdjsonReader(stream, max_message_bytes)
