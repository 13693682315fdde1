"""Open the sidecar's SQLite file with the pragmas the protocol requires."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

import peewee

from sidecar.errors import DATABASE_UNAVAILABLE, SidecarError
from sidecar.storage.errors import is_busy

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000

# Connection settings only. None of them writes to the file, so a file that
# the boot rejects after reading it (a newer schema, say) stays byte-identical.
# busy_timeout comes first so that every later statement waits for a second
# process instead of failing at once. WAL is switched on by enable_wal.
PRAGMAS = (
    ("busy_timeout", BUSY_TIMEOUT_MS),
    ("foreign_keys", 1),
    ("synchronous", "full"),
)

# Pause between two attempts to take a lock. SQLite returns SQLITE_BUSY
# without calling the busy handler when waiting could deadlock, so without a
# pause the retry loop would spin.
LOCK_RETRY_PAUSE_SECONDS = 0.05

FileIdentity = tuple[int, int]
T = TypeVar("T")


def file_identity(path: Path) -> FileIdentity | None:
    """Return the (device, inode) pair of the file at path, or None when nothing is there."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


class ServedDatabase(peewee.SqliteDatabase):
    """A SqliteDatabase that remembers which file it opened.

    A connection keeps using the inode it opened. Once the path is replaced
    (os.replace of an older copy) or deleted, the connection's writes land in
    a file that no one will ever open again. file_replaced() detects that, so
    that the caller can reopen the path first.
    """

    def __init__(self, path: Path, **kwargs) -> None:
        self.path = path
        self.opened_identity: FileIdentity | None = None
        # mode=rw: SQLite must never create the file. A path that vanished
        # between create_database_file and this open fails instead of silently
        # becoming a new empty database.
        super().__init__(f"{path.as_uri()}?mode=rw", uri=True, **kwargs)

    def _connect(self) -> sqlite3.Connection:
        connection = super()._connect()
        # NOTE: a replacement between sqlite3.connect and this stat goes
        # unnoticed; the window is one system call wide.
        self.opened_identity = file_identity(self.path)
        return connection

    def file_replaced(self) -> bool:
        """Return whether the path now names another file than the one opened, or none."""
        return file_identity(self.path) != self.opened_identity

    def _close(self, connection: sqlite3.Connection) -> None:
        if self.file_replaced():
            # SQLite skips the checkpoint on close when the file has moved, and
            # leaves the -wal file at the path. The next connection would then
            # replay those frames onto whatever file now has the name, which
            # corrupts it. TRUNCATE copies the frames into the old inode and
            # empties the -wal file first.
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as error:
                logger.warning(
                    "could not empty the WAL of a replaced database file",
                    extra={"event": "db.replaced_wal_not_emptied", "dbPath": str(self.path), "detail": str(error)},
                )
        super()._close(connection)


def database_file_replaced(database: peewee.Database | None) -> bool:
    """Return whether the file at the served path is no longer the file database opened.

    NOTE: a backup copied over the served file in place keeps its device and
    inode, so this check misses it. The open connection then keeps its old
    view and WAL, which can damage the copied file.
    """
    return isinstance(database, ServedDatabase) and database.file_replaced()


def _copy_to_new_file(source: Path, path: Path) -> None:
    """Copy source to path unless a file is already there, which then wins.

    NOTE: unlike the hard link, this leaves a short window in which the path
    is an empty file. A process killed inside it leaves a file that the next
    boot rejects as empty.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as target:
        target.write(source.read_bytes())
        target.flush()
        os.fsync(target.fileno())


def create_database_file(path: Path) -> None:
    """Create a new, empty WAL database at path unless a file is already there.

    SQLite leaves a zero-length file between creating a file and writing its
    header. A process killed in that gap would leave a file that the next boot
    must reject as truncated. Building the header under a temporary name and
    linking it into place means the path shows either nothing or a valid file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return

    # NOTE: a process killed before the cleanup below leaves its staging
    # files behind. They are never read, and are not removed later because a
    # live peer's staging file looks the same.
    staging = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        connection = sqlite3.connect(staging)
        try:
            connection.execute("PRAGMA journal_mode=wal")
        finally:
            connection.close()
        try:
            os.link(staging, path)
        except FileExistsError:
            # A second sidecar created the file meanwhile; its file wins.
            pass
        except OSError:
            # Some filesystems (exFAT, some network shares) have no hard links.
            _copy_to_new_file(staging, path)
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def open_database(path: Path) -> ServedDatabase:
    """Connect to the existing file at path with foreign keys, synchronous=FULL and a busy timeout.

    Every transaction begins IMMEDIATE, so that a write transaction takes the
    write lock at BEGIN (waiting up to the busy timeout) instead of failing
    half-way when a second connection writes.
    """
    database = ServedDatabase(
        path,
        pragmas=PRAGMAS,
        lock_type="IMMEDIATE",
        timeout=BUSY_TIMEOUT_MS / 1000,
        autoconnect=False,
        check_same_thread=False,
    )
    database.connect()
    return database


def retry_while_locked(
    action: Callable[[], T],
    wait_seconds: float,
    on_wait: Callable[[], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> T:
    """Run action, and run it again while SQLite reports the database locked.

    Each attempt already waits up to the busy timeout. After wait_seconds,
    or as soon as should_stop() is true (a SIGTERM during boot), the last busy
    error is raised. Any other error is raised at once.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return action()
        except (peewee.PeeweeException, sqlite3.Error) as error:
            if not is_busy(error) or time.monotonic() > deadline or should_stop():
                raise
        on_wait()
        time.sleep(LOCK_RETRY_PAUSE_SECONDS)


def enable_wal(
    database: peewee.SqliteDatabase,
    path: Path,
    wait_seconds: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Switch the file to WAL journal mode, which is stored in the file itself.

    On a file already in WAL mode this only reads. Leaving rollback-journal
    mode needs every other connection to release the file, so this waits for
    peers up to wait_seconds.
    """

    def log_wait() -> None:
        logger.info("waiting for other connections to switch the file to WAL", extra={"event": "boot.wal_switch_wait"})

    mode = retry_while_locked(lambda: database.pragma("journal_mode", "wal"), wait_seconds, log_wait, should_stop)
    if str(mode).lower() != "wal":
        raise SidecarError(
            DATABASE_UNAVAILABLE,
            f"Database {path} could not be switched to WAL journal mode (it stays in {mode!r} mode)",
        )


def check_writable(database: peewee.SqliteDatabase, path: Path) -> None:
    """Raise DATABASE_UNAVAILABLE when SQLite can read the file but not write it.

    When the file cannot be opened for writing (read-only mode bits, an
    immutable file, a read-only mount), SQLite opens it read-only without an
    error, and only the first write fails. This probe creates a table inside a
    transaction that it rolls back, which writes nothing to the file.
    """
    connection = database.connection()
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        if not is_busy(error):
            raise
        # Another connection held the write lock past the busy timeout, so the
        # file is writable and the probe is not retried.
        logger.info(
            "write probe skipped while another connection writes",
            extra={"event": "boot.write_probe_skipped", "dbPath": str(path)},
        )
        return

    try:
        connection.execute('CREATE TABLE "marketing_write_probe" (probe INTEGER)')
    except sqlite3.Error as error:
        raise SidecarError(
            DATABASE_UNAVAILABLE,
            f"Database {path} can be read but not written: {error}",
        ) from error
    finally:
        connection.execute("ROLLBACK")


def raw_connection(database: peewee.SqliteDatabase) -> sqlite3.Connection:
    return database.connection()
