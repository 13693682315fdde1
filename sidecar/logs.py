"""JSON-line logging on stderr, configured once by the entry point.

Every record is formatted in the thread that logs it and put on a bounded
queue, and one writer thread writes the lines to stderr. Logging blocks no
request, whether stderr is read slowly, not read at all, or closed:

- a token bucket admits at most LOG_RATE_PER_SECOND records a second on
  average (bursts up to LOG_BURST), and a full queue drops the record;
- dropped records are counted, and the count is logged with the next record
  that fits (at most once every DROPPED_NOTICE_INTERVAL_SECONDS) and at stop;
- the writer thread stops writing, and the rest of the process goes on, when
  stderr reports an error (a closed pipe, say);
- stopping waits at most STOP_TIMEOUT_SECONDS for the queue to drain.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
import time
from typing import BinaryIO

LOG_QUEUE_SIZE = 10_000
LOG_RATE_PER_SECOND = 200
LOG_BURST = 1_000
# A record longer than this is replaced by its message, event and size, so
# that one log line can never carry a whole request.
MAX_LOG_LINE_CHARS = 16 * 1024
STOP_TIMEOUT_SECONDS = 2.0
# Under a steady flood the count of dropped records is logged at most this often.
DROPPED_NOTICE_INTERVAL_SECONDS = 1.0

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_STOP = object()


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

        line = json.dumps(entry, ensure_ascii=False, default=str)
        if len(line) > MAX_LOG_LINE_CHARS:
            return _shortened(entry, len(line))
        return line


def _shortened(entry: dict, length: int) -> str:
    short = {key: entry[key] for key in ("ts", "level", "logger") if key in entry}
    short["msg"] = str(entry.get("msg", ""))[:1000]
    if "event" in entry:
        short["event"] = str(entry["event"])[:200]
    short["truncatedChars"] = length
    return json.dumps(short, ensure_ascii=False)


class TokenBucket:
    """Admit events at `rate` per second on average, with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class BoundedQueueHandler(logging.Handler):
    """Format records and queue the lines; drop and count what the rate or the queue does not admit."""

    def __init__(self, lines: queue.Queue, bucket: TokenBucket) -> None:
        super().__init__()
        self.lines = lines
        self.bucket = bucket
        self.dropped = 0
        self.last_notice = float("-inf")

    def emit(self, record: logging.LogRecord) -> None:
        if not self.bucket.take():
            self.dropped += 1
            return
        try:
            line = self.format(record)
        except Exception:
            # A record that cannot be formatted (a bad %-argument, say) is
            # dropped like one over the rate. Printing its traceback to stderr
            # would bypass the queue and could block.
            self.dropped += 1
            return

        try:
            if self.dropped and self.bucket.clock() - self.last_notice >= DROPPED_NOTICE_INTERVAL_SECONDS:
                self.flush_dropped_count()
            self.lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _dropped_notice(self) -> str:
        notice = logging.makeLogRecord(
            {"name": __name__, "levelno": logging.WARNING, "levelname": "WARNING",
             "msg": "log records dropped: over the rate limit or stderr was slow",
             "event": "log.dropped", "count": self.dropped}
        )
        return self.format(notice)

    def flush_dropped_count(self) -> None:
        """Queue one record with the number of records dropped since the last one, if any were."""
        if not self.dropped:
            return
        try:
            self.lines.put_nowait(self._dropped_notice())
        except queue.Full:
            return
        self.dropped = 0
        self.last_notice = self.bucket.clock()


# How long the writer gathers records before writing them in one go; a
# record reaches stderr at most this much later.
LOG_BATCH_SECONDS = 0.02


class LogWriter:
    """The thread that writes queued lines to stderr, and its bounded stop."""

    def __init__(self, stream: BinaryIO | None, lines: queue.Queue, handler: BoundedQueueHandler) -> None:
        self.stream = stream
        self.lines = lines
        self.handler = handler
        # A daemon thread, because one blocked on a stderr pipe that is not
        # read must not keep the process alive after stop() gave up on it.
        self.thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Write what is queued, waiting at most `timeout` seconds, then stop the thread."""
        deadline = time.monotonic() + timeout
        with self.handler.lock:
            self.handler.flush_dropped_count()
        try:
            self.lines.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self.thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        # SIGTERM and SIGINT must reach the main thread, whose blocking read
        # they interrupt; delivered to this thread they would not wake it.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        while True:
            batch = [self.lines.get()]
            # Waking this thread for every record would add a thread switch
            # to every request. Gathering the records of a short interval
            # into one write costs one switch per batch instead.
            time.sleep(LOG_BATCH_SECONDS)
            while True:
                try:
                    batch.append(self.lines.get_nowait())
                except queue.Empty:
                    break

            stop = _STOP in batch
            lines = batch[: batch.index(_STOP)] if stop else batch
            if lines:
                self._write("\n".join(lines))
            if stop:
                return

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        data = memoryview((text + "\n").encode("utf-8", "backslashreplace"))
        try:
            while data:
                written = self.stream.write(data)
                data = data[written or 0:]
        except (OSError, ValueError):
            # stderr is closed or broken; the sidecar keeps serving without logs.
            self.stream = None


def configure_logging(level: str, stream: BinaryIO | None) -> LogWriter:
    """Route every logger to `stream` (raw, binary) through the bounded queue; return the started writer."""
    lines: queue.Queue = queue.Queue(LOG_QUEUE_SIZE)
    handler = BoundedQueueHandler(lines, TokenBucket(LOG_RATE_PER_SECOND, LOG_BURST))
    handler.setFormatter(JsonLineFormatter())
    writer = LogWriter(stream, lines, handler)
    writer.start()

    # The JSON lines carry none of these, and filling them costs a system
    # call or a lookup for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False

    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # warnings.warn() would otherwise write to sys.stderr directly, which
    # blocks when stderr is slow.
    logging.captureWarnings(True)
    # peewee logs every query with its parameters at DEBUG, and those are
    # contacts' personal data.
    logging.getLogger("peewee").setLevel(logging.INFO)
    return writer
