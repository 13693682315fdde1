"""Bring the database file up to date and decide between ready and degraded."""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Callable
from dataclasses import dataclass, field
from pathlib import Path

import peewee

from sidecar.boot import migration_runner
from sidecar.boot.migration_runner import ProgressCallback
from sidecar.errors import DATABASE_UNAVAILABLE, SidecarError
from sidecar.storage.database import check_writable, create_database_file, enable_wal, open_database
from sidecar.storage.errors import is_database_error

logger = logging.getLogger(__name__)


@dataclass
class BootReport:
    db_path: Path
    database: peewee.SqliteDatabase | None = None
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    applied_now: list[str] = field(default_factory=list)
    backup_path: Path | None = None
    error: SidecarError | None = None

    @property
    def ready(self) -> bool:
        return self.error is None

    @property
    def schema_version(self) -> str | None:
        return self.applied[-1] if self.applied else None


def boot_database(
    db_path: Path,
    on_progress: ProgressCallback,
    should_stop: Callable[[], bool] = lambda: False,
) -> BootReport:
    """Open db_path, apply pending migrations and check the tables.

    Failures are returned in the report's error rather than raised.
    """
    started = time.perf_counter()
    report = BootReport(db_path=db_path)
    try:
        _check_path_is_usable(db_path)
        create_database_file(db_path)
        report.database = open_database(db_path)
        _migrate(report, on_progress, should_stop)
    except SidecarError as error:
        report.error = error
    except (peewee.PeeweeException, sqlite3.Error, OSError) as error:
        report.error = _as_unavailable(error, db_path)

    if report.error is not None:
        logger.error(
            "boot failed",
            extra={"event": "boot.degraded", "dbPath": str(db_path), "code": report.error.code.name, "detail": report.error.message},
        )
    else:
        logger.info(
            "boot finished",
            extra={
                "event": "boot.ready",
                "dbPath": str(db_path),
                "schemaVersion": report.schema_version,
                "migrationsApplied": report.applied_now,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    return report


def _migrate(report: BootReport, on_progress: ProgressCallback, should_stop: Callable[[], bool]) -> None:
    database = report.database
    connection = database.connection()
    folder = migration_runner.shipped_migrations_folder()

    plan = migration_runner.plan_migrations(connection, folder)
    migration_runner.reject_unknown_migrations(plan, report.db_path)
    report.applied, report.pending = plan.applied, plan.pending

    # These are the boot's first writes. They come only after the plan has
    # shown that this build can serve the file, so a rejected file stays as it was.
    enable_wal(database, report.db_path, migration_runner.MIGRATION_LOCK_WAIT_SECONDS, should_stop)
    check_writable(database, report.db_path)

    if plan.pending:
        outcome = migration_runner.apply_pending_migrations(database, report.db_path, folder, on_progress, should_stop)
        report.applied_now, report.backup_path = outcome.applied_now, outcome.backup_path
        plan = migration_runner.plan_migrations(connection, folder)
        report.applied, report.pending = plan.applied, plan.pending

    migration_runner.check_required_tables(connection, report.db_path)


def _check_path_is_usable(db_path: Path) -> None:
    if db_path.is_dir():
        raise SidecarError(DATABASE_UNAVAILABLE, f"Database path {db_path} is a folder, not a file")
    blocker = _file_in_place_of_folder(db_path.parent)
    if blocker is not None:
        raise SidecarError(
            DATABASE_UNAVAILABLE,
            f"Database {db_path} cannot be created: its folder cannot be made because {blocker} is a file",
        )
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SidecarError(
            DATABASE_UNAVAILABLE, f"Database {db_path} cannot be created: its folder cannot be made: {error}"
        ) from error
    if db_path.is_file() and db_path.stat().st_size == 0:
        # create_database_file leaves a zero-length file only when a process
        # dies inside the copy fallback's short window. So this file was most
        # likely truncated, and migrating it would silently start an empty
        # database in place of lost data.
        raise SidecarError(
            DATABASE_UNAVAILABLE,
            f"Database file {db_path} is empty (0 bytes), not a SQLite database; move it away to start a new one",
        )


def _file_in_place_of_folder(folder: Path) -> Path | None:
    """Return the nearest existing ancestor of folder (or folder itself) when it is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _as_unavailable(error: BaseException, db_path: Path) -> SidecarError:
    if is_database_error(error):
        return migration_runner.database_failure(error, db_path)
    return SidecarError(DATABASE_UNAVAILABLE, f"Database {db_path} cannot be opened: {error}")


def status_plan(report: BootReport) -> tuple[list[str], list[str]]:
    """Re-read applied and pending migrations for get-status, writing nothing."""
    # NOTE: after the file at the path was replaced, this still reads the
    # file that was opened; the next data method reopens the path.
    if report.database is None:
        return report.applied, report.pending
    try:
        plan = migration_runner.plan_migrations(report.database.connection(), migration_runner.shipped_migrations_folder())
    except (SidecarError, peewee.PeeweeException, sqlite3.Error, OSError) as error:
        logger.warning("status could not read the migration history", extra={"event": "status.plan_failed", "detail": str(error)})
        return report.applied, report.pending
    return plan.applied, plan.pending
