"""Copy the database aside with SQLite's online backup before migrating it."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sidecar.errors import DATABASE_UNAVAILABLE, SidecarError

logger = logging.getLogger(__name__)

BACKUPS_KEPT = 3


def backup_pattern(db_path: Path) -> str:
    return f"{db_path.name}.backup-*.db"


def back_up_database(db_path: Path, schema_version: str | None) -> Path:
    """Write a backup beside db_path named with the schema version and UTC time; keep the newest three.

    The copy is read through a connection of its own: the migrating
    connection already holds the write transaction, and a backup from it
    waits forever. In WAL mode this reader sees the last commit, which is the
    state before the migration. Raises DATABASE_UNAVAILABLE when the copy
    cannot be written, so that no migration runs without the backup it
    promised.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    version = schema_version or "none"
    backup_path = db_path.with_name(f"{db_path.name}.backup-{version}-{stamp}.db")

    try:
        source = sqlite3.connect(db_path)
        target = sqlite3.connect(backup_path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    except (sqlite3.Error, OSError) as error:
        with contextlib.suppress(OSError):
            backup_path.unlink()
        raise SidecarError(
            DATABASE_UNAVAILABLE,
            f"Backup of {db_path} to {backup_path} failed, so no migration was applied: {error}",
        ) from error

    logger.info(
        "database backed up before migrating",
        extra={"event": "boot.backup_written", "backupPath": str(backup_path)},
    )
    prune_old_backups(db_path)
    return backup_path


def prune_old_backups(db_path: Path) -> None:
    backups = sorted(db_path.parent.glob(backup_pattern(db_path)), key=lambda p: p.stat().st_mtime_ns)
    for stale in backups[:-BACKUPS_KEPT]:
        with contextlib.suppress(OSError):
            stale.unlink()
