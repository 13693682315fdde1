"""The read-dispatch-write loop over the framed input."""

from __future__ import annotations

import logging
import signal
from typing import Any, Callable

from sidecar.errors import invalid_request, internal_error
from sidecar.transport.framing import FrameReader
from sidecar.transport.writer import OutputClosed, ProtocolWriter

logger = logging.getLogger(__name__)


class StopServing(Exception):
    """Raised by the SIGTERM handler while the loop waits for input."""


class Server:
    def __init__(self, reader: FrameReader, writer: ProtocolWriter, handle: Callable[[bytes], tuple[Any, list]], locale: str, should_stop: Callable[[], bool]) -> None:
        self.reader = reader
        self.writer = writer
        self.handle = handle
        self.locale = locale
        self.should_stop = should_stop
        self.busy = False
        self.stop_requested = False

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_terminate)

    def _on_terminate(self, signum: int, frame: Any) -> None:
        # While a request is in hand, let it finish; while idle, leave the read.
        self.stop_requested = True
        if not self.busy:
            raise StopServing()

    def serve(self) -> None:
        try:
            for frame in self.reader:
                self.busy = True
                if frame.error is not None:
                    self._write(_error(frame.error, self.locale))
                else:
                    self._handle_body(frame.body)
                self.busy = False
                if self.stop_requested or self.should_stop():
                    return
        except StopServing:
            logger.info("stopping on SIGTERM", extra={"event": "sidecar.sigterm"})
        except OutputClosed:
            logger.warning("stdout closed; stopping", extra={"event": "sidecar.stdout_closed"})

    def _handle_body(self, body: bytes) -> None:
        try:
            response, notifications = self.handle(body)
        except Exception:
            logger.exception("message handling failed", extra={"event": "rpc.unhandled"})
            response, notifications = {"jsonrpc": "2.0", "error": internal_error().rpc_error(self.locale), "id": None}, []

        if response is not None:
            self._write(response)
        for notification in notifications:
            self.writer.notify(notification.method, notification.params)

    def _write(self, message: Any) -> None:
        self.writer.write_message(message)


def _error(message: str, locale: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": invalid_request(message).rpc_error(locale), "id": None}
