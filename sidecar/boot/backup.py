"""Copy the database aside with SQLite's online backup before migrating it."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sidecar.errors import DATABASE_UNAVAILABLE, SidecarError

logger = logging.getLogger(__name__)

BACKUPS_KEPT = 3
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
STAMP_PATTERN = r"\d{8}T\d{12}Z"
PARTIAL_SUFFIX = ".partial"


def backup_name_pattern(db_path: Path) -> re.Pattern[str]:
    """Return a pattern for the names of db_path's finished backups, whose stamp group sorts by time."""
    return re.compile(rf"^{re.escape(db_path.name)}\.backup-.+-(?P<stamp>{STAMP_PATTERN})\.db$")


def back_up_database(db_path: Path, schema_version: str | None) -> Path:
    """Write a backup beside db_path named with the schema version and UTC time; keep the newest three.

    The copy is read through a connection of its own, because a backup from
    the migrating connection, which owns the write transaction, waits forever. In WAL mode this reader sees the last commit, which is the
    state before the migration. The copy is written under a temporary name
    and renamed when complete, so a process killed half-way never leaves a
    truncated file under a backup's name. Raises DATABASE_UNAVAILABLE when the
    copy cannot be written, so that no migration runs without the backup it
    promised.
    """
    stamp = datetime.now(timezone.utc).strftime(STAMP_FORMAT)
    version = schema_version or "none"
    backup_path = db_path.with_name(f"{db_path.name}.backup-{version}-{stamp}.db")
    partial_path = backup_path.with_name(backup_path.name + PARTIAL_SUFFIX)

    try:
        remove_partial_backups(db_path)
        _copy_database(db_path, partial_path)
        os.replace(partial_path, backup_path)
    except (sqlite3.Error, OSError) as error:
        with contextlib.suppress(OSError):
            partial_path.unlink()
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


def _copy_database(source_path: Path, target_path: Path) -> None:
    source = sqlite3.connect(f"{source_path.as_uri()}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def remove_partial_backups(db_path: Path) -> None:
    """Delete copies left by a process killed while writing a backup.

    Backups are written only under the migration lock, so no other process
    can be writing one now.
    """
    pattern = re.compile(rf"^{re.escape(db_path.name)}\.backup-.+\.db{re.escape(PARTIAL_SUFFIX)}(-journal)?$")
    for entry in db_path.parent.iterdir():
        if pattern.match(entry.name):
            with contextlib.suppress(OSError):
                entry.unlink()


def prune_old_backups(db_path: Path) -> None:
    """Delete all but the newest BACKUPS_KEPT backups of db_path, ordered by the time in their names."""
    pattern = backup_name_pattern(db_path)
    try:
        entries = list(db_path.parent.iterdir())
    except OSError as error:
        # The new backup is complete, so only the pruning is skipped. Older
        # backups stay until a later boot can list them.
        logger.warning(
            "old backups could not be listed", extra={"event": "boot.backup_prune_failed", "detail": str(error)}
        )
        return

    stamped = []
    for entry in entries:
        match = pattern.match(entry.name)
        if match is not None:
            stamped.append((match["stamp"], entry))

    stamped.sort()
    for _, stale in stamped[:-BACKUPS_KEPT]:
        with contextlib.suppress(OSError):
            stale.unlink()
