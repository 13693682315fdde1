"""In-process checks of the database file helpers."""

from __future__ import annotations

import errno
import os
import sqlite3

from sidecar.storage.database import create_database_file


def test_new_file_without_hard_links(tmp_path, monkeypatch):
    def no_hard_links(source, target):
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_hard_links)
    db_path = tmp_path / "data" / "marketing.db"

    create_database_file(db_path)

    connection = sqlite3.connect(db_path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()
    assert sorted(path.name for path in db_path.parent.iterdir()) == ["marketing.db"]


def test_existing_file_left_alone(tmp_path):
    db_path = tmp_path / "marketing.db"
    db_path.write_bytes(b"not mine to replace")

    create_database_file(db_path)

    assert db_path.read_bytes() == b"not mine to replace"
