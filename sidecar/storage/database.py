"""Open the sidecar's SQLite file with the pragmas the protocol requires."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import peewee

BUSY_TIMEOUT_MS = 5000

# busy_timeout comes first so that switching to WAL, which needs a lock, already
# waits for a second process instead of failing at once.
PRAGMAS = (
    ("busy_timeout", BUSY_TIMEOUT_MS),
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "full"),
)


def create_database_file(path: Path) -> None:
    """Create a new, empty WAL database at path unless a file is already there.

    SQLite leaves a zero-length file between creating a file and writing its
    header; a process killed in that gap would leave a file that the next boot
    must reject as truncated. Building the header under a temporary name and
    linking it into place means the path shows either nothing or a valid file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return

    staging = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        connection = sqlite3.connect(staging)
        try:
            connection.execute("PRAGMA journal_mode=wal")
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):
            # A second sidecar may have created the file meanwhile; its file wins.
            os.link(staging, path)
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def open_database(path: Path) -> peewee.SqliteDatabase:
    """Connect to path with WAL, foreign keys, synchronous=FULL and a busy timeout.

    Every transaction begins IMMEDIATE, so that a write transaction takes the
    write lock at BEGIN (waiting up to the busy timeout) instead of failing
    half-way when a second connection writes.
    """
    database = peewee.SqliteDatabase(
        str(path),
        pragmas=PRAGMAS,
        lock_type="IMMEDIATE",
        timeout=BUSY_TIMEOUT_MS / 1000,
        autoconnect=False,
        check_same_thread=False,
    )
    database.connect()
    return database


def raw_connection(database: peewee.SqliteDatabase) -> sqlite3.Connection:
    return database.connection()
