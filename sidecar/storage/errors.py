"""Translate SQLite failures into the protocol's database error codes.

This is the one place where driver errors get a stable code: "database is
locked" becomes DATABASE_BUSY here and nowhere else.
"""

from __future__ import annotations

import sqlite3

from sidecar.errors import (
    DATABASE_BUSY,
    DATABASE_NOT_READY,
    DATABASE_UNAVAILABLE,
    SidecarError,
)

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_NOTADB,
}
_MISSING_SCHEMA_WORDS = ("no such table", "no such column", "has no column named")


def find_sqlite_error(error: BaseException) -> sqlite3.Error | None:
    """Return the sqlite3 error behind a peewee error, which keeps it as args[0]."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            return current
        if current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__
    return None


def is_database_error(error: BaseException) -> bool:
    return find_sqlite_error(error) is not None


def sqlite_primary_code(error: BaseException) -> int | None:
    """Return the primary SQLite result code (SQLITE_BUSY, ...) behind error, if it carries one."""
    cause = find_sqlite_error(error)
    error_code = getattr(cause, "sqlite_errorcode", None)
    return error_code & 0xFF if isinstance(error_code, int) else None


def is_busy(error: BaseException) -> bool:
    """Return whether error means that another connection held the lock past the busy timeout."""
    cause = find_sqlite_error(error)
    return cause is not None and (sqlite_primary_code(error) in _BUSY_CODES or "locked" in str(cause))


def is_unavailable(error: BaseException) -> bool:
    """Return whether error comes from the file itself (read-only, full, corrupt, I/O) rather than from the SQL."""
    return sqlite_primary_code(error) in _UNAVAILABLE_CODES


def is_missing_schema(error: BaseException) -> bool:
    cause = find_sqlite_error(error)
    return cause is not None and any(word in str(cause) for word in _MISSING_SCHEMA_WORDS)


def classify_database_error(error: BaseException, db_path: str) -> SidecarError:
    """Map a database failure on db_path to DATABASE_NOT_READY, _BUSY or _UNAVAILABLE."""
    cause = find_sqlite_error(error) or error
    detail = str(cause)
    primary_code = sqlite_primary_code(error)

    if any(word in detail for word in _MISSING_SCHEMA_WORDS):
        return SidecarError(
            DATABASE_NOT_READY,
            f"Database {db_path} is missing part of its schema: {detail}",
        )
    if primary_code in _BUSY_CODES or "locked" in detail:
        return SidecarError(
            DATABASE_BUSY,
            f"Database {db_path} stayed locked by another connection past the busy timeout: {detail}",
        )
    if primary_code in _UNAVAILABLE_CODES or isinstance(cause, (sqlite3.DatabaseError, OSError)):
        return SidecarError(DATABASE_UNAVAILABLE, f"Database {db_path} cannot be used: {detail}")
    return SidecarError(DATABASE_UNAVAILABLE, f"Database {db_path} failed: {detail}")
