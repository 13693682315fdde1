"""The server context passed to every method: database state, clock and outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from sidecar.boot.startup import BootReport
from sidecar.services.tasks import Notification

logger = logging.getLogger(__name__)


@dataclass
class ServerContext:
    locale: str
    version: str
    boot: BootReport
    # Re-runs the boot checks on the served file; used once when a table
    # vanished at run time. Returns the new report.
    reboot: Callable[[], BootReport]
    now: Callable[[], str]
    outbox: list[Notification] = field(default_factory=list)
    shutdown_requested: bool = False

    @property
    def database(self) -> Any:
        return self.boot.database

    def queue_notification(self, notification: Notification) -> None:
        """Queue a notification to be written after the response; only outside a transaction."""
        if self.database is not None and self.database.in_transaction():
            raise RuntimeError("notifications are sent only after the outermost commit")
        self.outbox.append(notification)

    def take_outbox(self) -> list[Notification]:
        pending, self.outbox = self.outbox, []
        return pending
