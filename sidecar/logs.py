"""JSON-line logging on stderr, configured once by the entry point.

Records go through a bounded queue to a writer thread, so a shell that drains
stderr slowly delays only the logs, never a request; when the queue is full
records are dropped and counted, and the count is logged once there is room.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
import time
from typing import TextIO

LOG_QUEUE_SIZE = 10_000

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that drops records when the queue is full instead of blocking."""

    def __init__(self, log_queue: queue.Queue) -> None:
        super().__init__(log_queue)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped and self.queue.qsize() < LOG_QUEUE_SIZE // 2:
                notice = logging.makeLogRecord(
                    {"name": __name__, "levelno": logging.WARNING, "levelname": "WARNING",
                     "msg": "log records dropped while stderr was slow", "event": "log.dropped", "count": self.dropped}
                )
                self.queue.put_nowait(notice)
                self.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class SafeStreamHandler(logging.StreamHandler):
    """Write to stderr, and stop quietly when stderr is closed or missing."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.stream = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None:
            super().emit(record)


def configure_logging(level: str, stream: TextIO | None) -> logging.handlers.QueueListener:
    stream_handler = SafeStreamHandler(stream)
    if stream is None:
        stream_handler.stream = None
    stream_handler.setFormatter(JsonLineFormatter())

    log_queue: queue.Queue = queue.Queue(LOG_QUEUE_SIZE)
    listener = logging.handlers.QueueListener(log_queue, stream_handler)
    listener.start()

    root = logging.getLogger()
    root.handlers[:] = [DroppingQueueHandler(log_queue)]
    root.setLevel(level.upper())
    # peewee logs every query with its parameters at DEBUG, and those are
    # contacts' personal data.
    logging.getLogger("peewee").setLevel(logging.INFO)
    return listener


def stderr_stream() -> TextIO | None:
    return sys.stderr
