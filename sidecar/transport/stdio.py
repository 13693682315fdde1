"""Claim the stdio pipes: private handles for the protocol and the logs, /dev/null for everything else."""

from __future__ import annotations

import io
import logging
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO

logger = logging.getLogger(__name__)

STDIN_FD, STDOUT_FD, STDERR_FD = 0, 1, 2
MAX_STRAY_LINE_CHARS = 1000


@dataclass
class StdioPipes:
    protocol_in: BinaryIO | None
    protocol_out: BinaryIO | None
    # Raw, unbuffered: only the log writer thread writes here.
    log_stream: BinaryIO | None


def claim_stdio() -> StdioPipes:
    """Take private handles on fds 0, 1 and 2 and point the standard fds away from the protocol.

    After this, a stray print() lands in the log, a C library writing to fd 1
    writes to stderr, and a library reading stdin reads /dev/null, so only
    the protocol reader and writer touch the protocol pipes. The pipes are
    used as bytes, so the OS locale (GBK on a Chinese Windows) never decides
    an encoding.
    """
    # A standard fd that the parent left closed would be handed out by the
    # next open() or dup(), and whatever opened it (the database, say) would
    # then be written to as if it were stdout or stderr.
    missing = {fd for fd in (STDIN_FD, STDOUT_FD, STDERR_FD) if not _is_open(fd)}
    for fd in sorted(missing):
        _open_devnull_on(fd)

    protocol_in = None if STDIN_FD in missing else os.fdopen(os.dup(STDIN_FD), "rb")
    protocol_out = None if STDOUT_FD in missing else os.fdopen(os.dup(STDOUT_FD), "wb", buffering=0)
    log_stream = None if STDERR_FD in missing else os.fdopen(os.dup(STDERR_FD), "wb", buffering=0)

    _open_devnull_on(STDIN_FD)
    os.dup2(STDERR_FD, STDOUT_FD)

    _replace_text_streams()
    return StdioPipes(protocol_in, protocol_out, log_stream)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _open_devnull_on(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    if devnull != fd:
        os.dup2(devnull, fd)
        os.close(devnull)


def _replace_text_streams() -> None:
    # sys.stderr stays a real stream for the interpreter's last-resort
    # tracebacks, in UTF-8 so that no locale codec can fail on them.
    if sys.stderr is not None:
        try:
            sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
        except (AttributeError, ValueError, OSError):
            pass
    sys.stdout = LogLineStream("stdout")
    sys.stdin = open(os.devnull, encoding="utf-8")


class LogLineStream(io.TextIOBase):
    """A text stream that turns each written line into a log record.

    Writes go through the logging queue, which never blocks, so a library's
    print() cannot stall a request on a slow stderr or reach the protocol pipe.
    """

    encoding = "utf-8"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self._log(line)
        if len(self.pending) > MAX_STRAY_LINE_CHARS:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            self._log(line)

    def _log(self, line: str) -> None:
        logger.warning("stray output", extra={"event": "stdio.stray_output", "stream": self.name, "text": line[:MAX_STRAY_LINE_CHARS]})
