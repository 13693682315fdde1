"""The read-dispatch-write loop over the framed input.

A reader thread takes frames off stdin and hands them to the main thread one
at a time. The main thread dispatches each and writes the response. SIGTERM
only sets a flag and wakes the main thread, so it never interrupts a request:
the request in hand is finished and its response written, then the loop
returns.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from typing import Any, Callable

from sidecar.errors import internal_error, invalid_request
from sidecar.transport.framing import Frame, FrameReader
from sidecar.transport.writer import OutputClosed, ProtocolWriter, encode_message

logger = logging.getLogger(__name__)

# handle(body) returns the encoded response (None when no response is due)
# and the notifications to write after it.
Handle = Callable[[bytes], tuple[bytes | None, list[Any]]]

_END_OF_INPUT = object()
_WAKE = object()


class StopSignal:
    """SIGTERM as a flag and a wake-up call, so that it never interrupts a request.

    The entry point installs it before boot: a SIGTERM that arrives while the
    database is migrated or before the loop starts is kept, and the loop
    returns as soon as it starts.
    """

    def __init__(self) -> None:
        self.received = False
        self.wake: Callable[[], None] = lambda: None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.received = True
        self.wake()


# SIGTERM is process-wide, and so is its flag.
PROCESS_STOP_SIGNAL = StopSignal()


class Server:
    def __init__(
        self,
        reader: FrameReader,
        writer: ProtocolWriter,
        handle: Handle,
        locale: str,
        should_stop: Callable[[], bool],
        stop_signal: StopSignal | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.handle = handle
        self.locale = locale
        self.should_stop = should_stop
        # SimpleQueue.put may be called from a signal handler; Queue.put may not.
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.stop_signal = stop_signal or PROCESS_STOP_SIGNAL
        self.stop_signal.wake = lambda: self.inbox.put(_WAKE)
        # The reader runs at most one frame ahead of the main thread, so a
        # client that pipelines faster than requests finish waits in the pipe
        # instead of in memory.
        self.read_ahead = threading.Semaphore(1)

    def install_signal_handlers(self) -> None:
        self.stop_signal.install()

    def serve(self) -> None:
        """Read, dispatch and respond until end of input, shutdown, SIGTERM or a closed stdout."""
        threading.Thread(target=self._read_frames, name="protocol-reader", daemon=True).start()
        try:
            self._loop()
        except OutputClosed:
            logger.warning("stdout closed; stopping", extra={"event": "sidecar.stdout_closed"})

    def _loop(self) -> None:
        if self.stop_signal.received:
            logger.info("stopping on SIGTERM received before serving", extra={"event": "sidecar.sigterm"})
            return
        while True:
            item = self.inbox.get()
            if self.stop_signal.received:
                logger.info("stopping on SIGTERM", extra={"event": "sidecar.sigterm"})
                return
            if item is _END_OF_INPUT:
                logger.info("stdin reached end of file; stopping", extra={"event": "sidecar.stdin_closed"})
                return
            if item is _WAKE:
                continue

            self.read_ahead.release()
            self._answer(item)

            if self.stop_signal.received:
                logger.info("stopping on SIGTERM after the request in hand", extra={"event": "sidecar.sigterm"})
                return
            if self.should_stop():
                return

    def _read_frames(self) -> None:
        # The main thread must receive SIGTERM: a signal delivered to this
        # thread, blocked in read(), would not wake the main thread's wait.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            for frame in self.reader:
                self.read_ahead.acquire()
                self.inbox.put(frame)
        except Exception:
            # Deliberately broad: whatever ends this thread must still wake
            # the main thread, or the sidecar would wait forever.
            logger.exception("reading stdin failed; stopping", extra={"event": "sidecar.stdin_failed"})
        self.inbox.put(_END_OF_INPUT)

    def _answer(self, frame: Frame) -> None:
        if frame.error is not None:
            logger.info("frame skipped", extra={"event": "rpc.frame_skipped", "detail": frame.error})
            self.writer.write_encoded(_frame_error(frame.error, self.locale))
            return

        logger.debug("message received", extra={"event": "rpc.received", "bytes": len(frame.body)})
        try:
            response, notifications = self.handle(frame.body)
        except Exception:
            # The dispatcher turns its own failures into error responses. This
            # is the last guard, so that a bug still gets a response instead of
            # ending the loop.
            logger.exception("message handling failed", extra={"event": "rpc.unhandled"})
            response, notifications = encode_message(_internal_error(self.locale)), []

        if response is not None:
            self.writer.write_encoded(response)
        for notification in notifications:
            self._notify(notification)

    def _notify(self, notification: Any) -> None:
        try:
            self.writer.notify(notification.method, notification.params)
        except (TypeError, ValueError):
            # The event row contains what this notification carried, so
            # list-events still delivers it.
            logger.exception("notification could not be encoded; skipped", extra={"event": "rpc.notify_failed", "method": notification.method})


def _frame_error(message: str, locale: str) -> bytes:
    return encode_message({"jsonrpc": "2.0", "error": invalid_request(message).rpc_error(locale), "id": None})


def _internal_error(locale: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": internal_error().rpc_error(locale), "id": None}
