"""A database file as an older host app leaves it: its own tables and rows, no marketing tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

HOST_SCHEMA = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, platform TEXT NOT NULL);
CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts (id), handle TEXT NOT NULL, note TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts (id), body TEXT NOT NULL, sent_at TEXT);
CREATE TABLE schema_version (version INTEGER NOT NULL);
"""


def create_host_app_database(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(HOST_SCHEMA)
        connection.execute("INSERT INTO schema_version VALUES (7)")
        connection.executemany("INSERT INTO accounts (name, platform) VALUES (?, ?)", [("主帳號", "telegram"), ("備用", "line")])
        connection.executemany(
            "INSERT INTO contacts (account_id, handle, note) VALUES (?, ?, ?)",
            [(1 + i % 2, f"user{i}", f"備註 {i}") for i in range(50)],
        )
        connection.executemany(
            "INSERT INTO messages (contact_id, body, sent_at) VALUES (?, ?, ?)",
            [(1 + i % 50, f"你好 {i}", "2026-11-30 10:00:00") for i in range(120)],
        )
        connection.execute("PRAGMA user_version = 7")
        connection.execute("PRAGMA application_id = 1234")
        connection.commit()
    finally:
        connection.close()


def dump_host_tables(path: Path) -> dict[str, object]:
    """Return every host table's rows, plus the header values the sidecar must not touch."""
    connection = sqlite3.connect(path)
    try:
        dump: dict[str, object] = {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("accounts", "contacts", "messages", "schema_version")
        }
        dump["schema_sql"] = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'marketing_%' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        dump["user_version"] = connection.execute("PRAGMA user_version").fetchone()[0]
        dump["application_id"] = connection.execute("PRAGMA application_id").fetchone()[0]
        return dump
    finally:
        connection.close()
