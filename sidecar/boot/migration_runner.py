"""Plan and apply the shipped peewee-migrate migrations under a database lock.

Deciding whether anything is pending reads the history table with plain SQL
and lists the migrations folder, so a boot with nothing to do imports nothing
from peewee-migrate and never replays the applied migrations.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import peewee

from sidecar.boot.backup import back_up_database
from sidecar.errors import DATABASE_BUSY, DATABASE_NOT_READY, DATABASE_UNAVAILABLE, SidecarError
from sidecar.storage.database import retry_while_locked
from sidecar.storage.errors import classify_database_error, is_busy, is_unavailable

logger = logging.getLogger(__name__)

HISTORY_TABLE = "marketing_migrations"
REQUIRED_TABLES = (
    "marketing_contacts",
    "marketing_contact_tags",
    "marketing_contact_groups",
    "marketing_tasks",
    "marketing_task_targets",
    "marketing_events",
)

# peewee-migrate's own file mask; a name it would skip (four digits, say) is a
# packaging mistake that must stop the boot rather than vanish.
MIGRATION_FILE = re.compile(r"^\d{3}_[^.]+\.py$")
LOOKS_LIKE_MIGRATION = re.compile(r"^\d+_.*\.py$")

# A second sidecar waits this long for the first one's migrations to finish.
MIGRATION_LOCK_WAIT_SECONDS = 120.0

# Test and maintenance hook: a folder of migrations used in place of the
# shipped ones (tests point it at broken, slow or extra migrations). The
# desktop shell never sets it.
MIGRATIONS_DIR_ENV_VAR = "MARKETING_SIDECAR_MIGRATIONS_DIR"

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class MigrationPlan:
    shipped: list[str]
    applied: list[str]
    pending: list[str] = field(init=False)
    unknown: list[str] = field(init=False)

    def __post_init__(self) -> None:
        applied = set(self.applied)
        shipped = set(self.shipped)
        self.pending = [name for name in self.shipped if name not in applied]
        self.unknown = [name for name in self.applied if name not in shipped]

    @property
    def schema_version(self) -> str | None:
        return self.applied[-1] if self.applied else None


@dataclass
class MigrationOutcome:
    applied_now: list[str]
    backup_path: Path | None


def shipped_migrations_folder() -> Path:
    """Locate the migrations through the installed package, never the working folder.

    MARKETING_SIDECAR_MIGRATIONS_DIR, when set, names another folder instead.
    """
    override = os.environ.get(MIGRATIONS_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser().absolute()

    import sidecar.migrations

    return Path(sidecar.migrations.__file__).resolve().parent


def list_shipped_migrations(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise SidecarError(DATABASE_NOT_READY, f"Migrations folder {folder} is missing or not a folder")

    file_names = [entry.name for entry in folder.iterdir() if entry.is_file()]
    skipped = [name for name in file_names if LOOKS_LIKE_MIGRATION.match(name) and not MIGRATION_FILE.match(name)]
    if skipped:
        raise SidecarError(
            DATABASE_NOT_READY,
            f"Migration files {sorted(skipped)} in {folder} do not match NNN_name.py and would be skipped",
        )

    names = sorted(name[: -len(".py")] for name in file_names if MIGRATION_FILE.match(name))
    if not names:
        raise SidecarError(DATABASE_NOT_READY, f"Migrations folder {folder} contains no migration")
    return names


def table_names(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def read_applied_migrations(connection: sqlite3.Connection) -> list[str]:
    if HISTORY_TABLE not in table_names(connection):
        return []
    rows = connection.execute(f'SELECT name FROM "{HISTORY_TABLE}" ORDER BY id').fetchall()
    return [row[0] for row in rows]


def plan_migrations(connection: sqlite3.Connection, folder: Path) -> MigrationPlan:
    """Compare the history table with the shipped files; reads only."""
    return MigrationPlan(shipped=list_shipped_migrations(folder), applied=read_applied_migrations(connection))


def reject_unknown_migrations(plan: MigrationPlan, db_path: Path) -> None:
    if plan.unknown:
        raise SidecarError(
            DATABASE_NOT_READY,
            f"Database {db_path} was migrated by a newer version of the app (unknown migrations: "
            f"{', '.join(plan.unknown)}); it was left untouched. Update the app.",
        )


def check_required_tables(connection: sqlite3.Connection, db_path: Path) -> None:
    missing = [name for name in REQUIRED_TABLES if name not in table_names(connection)]
    if missing:
        raise SidecarError(
            DATABASE_NOT_READY,
            f"Database {db_path} lacks tables {', '.join(missing)} although its migration history says they exist",
        )


def apply_pending_migrations(
    database: peewee.SqliteDatabase,
    db_path: Path,
    folder: Path,
    on_progress: ProgressCallback,
    should_stop: Callable[[], bool] = lambda: False,
) -> MigrationOutcome:
    """Apply every pending migration in one IMMEDIATE transaction, or none of them.

    The transaction's write lock keeps a second sidecar on the same file
    waiting until this one commits; that one then finds nothing pending.
    Foreign keys are switched off before BEGIN because SQLite ignores the
    pragma inside a transaction, and peewee-migrate rebuilds a table to change
    a column: dropping the old table with enforcement on would cascade-delete
    the children's rows.
    """
    database.pragma("foreign_keys", 0)
    try:
        with _migration_lock(database, db_path, should_stop):
            return _apply_under_lock(database, db_path, folder, on_progress)
    finally:
        database.pragma("foreign_keys", 1)


class _migration_lock:
    """Begin the IMMEDIATE transaction, waiting past the busy timeout for a migrating peer."""

    def __init__(self, database: peewee.SqliteDatabase, db_path: Path, should_stop: Callable[[], bool]) -> None:
        self.database = database
        self.db_path = db_path
        self.should_stop = should_stop
        self.transaction = database.transaction()

    def __enter__(self) -> None:
        def log_wait() -> None:
            logger.info("waiting for another process to release the migration lock", extra={"event": "boot.migration_lock_wait"})

        try:
            retry_while_locked(self.transaction.__enter__, MIGRATION_LOCK_WAIT_SECONDS, log_wait, self.should_stop)
        except peewee.OperationalError as error:
            if not is_busy(error):
                raise
            if self.should_stop():
                raise SidecarError(
                    DATABASE_BUSY,
                    f"Boot stopped on a stop signal while database {self.db_path} was locked by another process; "
                    "no migration was applied",
                ) from error
            raise SidecarError(
                DATABASE_BUSY,
                f"Database {self.db_path} stayed locked for {MIGRATION_LOCK_WAIT_SECONDS:.0f} s "
                "while another process held it; no migration was applied",
            ) from error

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.transaction.__exit__(None, None, None)
            return
        try:
            self.transaction.__exit__(exc_type, exc, traceback)
        except peewee.PeeweeException as rollback_error:
            # Some failures (a full disk, an I/O error) make SQLite roll back
            # by itself, so the ROLLBACK that follows fails. That second error
            # must not hide the first one, which explains what happened.
            logger.warning(
                "rollback after a failed migration failed",
                extra={"event": "boot.migration_rollback_failed", "detail": str(rollback_error)},
            )


def _apply_under_lock(
    database: peewee.SqliteDatabase,
    db_path: Path,
    folder: Path,
    on_progress: ProgressCallback,
) -> MigrationOutcome:
    connection = database.connection()

    # Re-plan under the lock: a peer may have migrated while this one waited.
    plan = plan_migrations(connection, folder)
    reject_unknown_migrations(plan, db_path)
    if not plan.pending:
        return MigrationOutcome(applied_now=[], backup_path=None)

    backup_path = None
    if table_names(connection):
        backup_path = back_up_database(db_path, plan.schema_version)

    from sidecar.boot.packaged_router import PackagedRouter

    router = PackagedRouter(database, folder, HISTORY_TABLE)
    router.model.create_table(safe=True)
    migrator = router.migrator

    total = len(plan.pending)
    for index, name in enumerate(plan.pending, start=1):
        on_progress(name, index, total)
        started = time.perf_counter()
        try:
            router.run_one(name, migrator, fake=False)
        except SidecarError:
            raise
        except Exception as error:
            raise _migration_failure(name, error) from error
        logger.info(
            "migration applied",
            extra={"event": "boot.migration_applied", "migration": name, "ms": round((time.perf_counter() - started) * 1000, 1)},
        )

    violations = connection.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise SidecarError(
            DATABASE_NOT_READY,
            f"Migrations {', '.join(plan.pending)} would leave {len(violations)} foreign-key violations "
            f"(first: {violations[0]!r}); they were rolled back",
        )
    check_required_tables(connection, db_path)
    return MigrationOutcome(applied_now=plan.pending, backup_path=backup_path)


def _migration_failure(name: str, error: Exception) -> SidecarError:
    # A file that cannot be written is the file's fault, not the migration's.
    code = DATABASE_UNAVAILABLE if is_unavailable(error) else DATABASE_NOT_READY
    return SidecarError(code, f"Migration {name} failed and every migration of this boot was rolled back: {error}")


def database_failure(error: BaseException, db_path: Path) -> SidecarError:
    return classify_database_error(error, str(db_path))
