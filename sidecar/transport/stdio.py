"""Claim the real stdout for the protocol and send everything else to stderr."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO, TextIO


@dataclass
class StdioPipes:
    protocol_in: BinaryIO | None
    protocol_out: BinaryIO | None
    log_stream: TextIO | None


def claim_stdio() -> StdioPipes:
    """Keep a private handle on stdout for the protocol writer and point fd 1 at stderr.

    After this, a stray print() or a C library writing to fd 1 lands on
    stderr, so nothing but the writer reaches the protocol pipe. The pipes
    are used as bytes, so the OS locale (GBK on a Chinese Windows) never
    decides an encoding.
    """
    log_stream = _utf8_stderr()
    protocol_out: BinaryIO | None = None
    try:
        protocol_fd = os.dup(1)
        protocol_out = os.fdopen(protocol_fd, "wb", buffering=0)
        if log_stream is not None:
            os.dup2(2, 1)
    except OSError:
        # No stdout at all (a windowed build); the caller logs and exits.
        protocol_out = None

    sys.stdout = log_stream if log_stream is not None else io.StringIO()
    protocol_in = sys.stdin.buffer if sys.stdin is not None else None
    return StdioPipes(protocol_in, protocol_out, log_stream)


def _utf8_stderr() -> TextIO | None:
    if sys.stderr is None:
        return None
    try:
        sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    except (AttributeError, ValueError, OSError):
        pass
    return sys.stderr
