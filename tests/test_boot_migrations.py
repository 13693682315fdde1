"""Boot-time migrations: all or nothing, backups, newer files, adoption, progress, rebuilds, reads.

Every test runs real sidecar processes on real SQLite files. Temporary
migration folders (MARKETING_SIDECAR_MIGRATIONS_DIR) add broken, extra or
table-rebuilding migrations to copies of the shipped ones.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from boot_support import (
    ADD_CAMPAIGNS,
    ADD_TASK_NOTE,
    BROKEN_HALFWAY,
    CHANGE_TASK_NAME,
    SEEDED_TASKS,
    connect,
    connect_new,
    foreign_key_violations,
    history,
    immutable,
    integrity,
    logical_dump,
    make_migrations_folder,
    seeded_database,
    shipped_migration_names,
    slow_migration,
    table_names,
    task_names,
)

from sidecar.messages import user_message
from sidecar_process import sidecar_command

BACKUP_NAME = re.compile(r"^marketing\.db\.backup-(?P<version>.+)-(?P<stamp>\d{8}T\d{12}Z)\.db$")


def degraded_error(process) -> dict:
    boot, _ = process.wait_boot()
    assert boot["method"] == "sidecar-degraded", boot
    return boot["params"]["error"]


def migrate_only(spawn, db_path: Path, **kwargs) -> tuple[int, list[dict]]:
    """Run --migrate-only; return the exit code and every stdout line parsed as JSON."""
    process = spawn(db_path, "--migrate-only", **kwargs)
    exit_code = process.wait_exit()
    return exit_code, [json.loads(line) for line in process.raw_lines]


# --- all or nothing -------------------------------------------------------------


def test_failed_migration_rolls_back_whole_boot(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(
        tmp_path / "migrations", {"002_add_campaigns": ADD_CAMPAIGNS, "003_broken_halfway": BROKEN_HALFWAY}
    )
    migrated = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    fresh = tmp_path / "fresh" / "marketing.db"
    before = logical_dump(migrated)

    on_migrated = spawn(migrated, "--locale", "en", env=env)
    on_fresh = spawn(fresh, env=env)
    error = degraded_error(on_migrated)
    fresh_error = degraded_error(on_fresh)

    assert error["code"] == "DATABASE_NOT_READY"
    assert "003_broken_halfway" in error["message"]
    assert "no such table: marketing_missing" in error["message"]
    assert error["userMessage"] == user_message("DATABASE_NOT_READY", "en")
    assert fresh_error["code"] == "DATABASE_NOT_READY"

    status = on_migrated.call("get-status")
    assert status["state"] == "degraded"
    assert status["pendingMigrations"] == ["002_add_campaigns", "003_broken_halfway"]
    assert status["error"]["code"] == "DATABASE_NOT_READY"
    assert on_migrated.call_error("list-marketing-tasks")["code"] == "DATABASE_NOT_READY"
    assert on_migrated.call_error(
        "create-marketing-task", {"name": "after failure", "audience": {"source": "recent"}}
    )["code"] == "DATABASE_NOT_READY"

    assert on_migrated.stop() == 0
    assert on_fresh.stop() == 0
    # The file with data is exactly as before: no half-made table, no history row.
    assert logical_dump(migrated) == before
    assert history(migrated) == shipped_migration_names()
    # The new file is back at version "none": 001 was rolled back with 003.
    assert table_names(fresh) == set()


# --- backups ----------------------------------------------------------------------


def test_backup_written_before_migrating(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(tmp_path / "migrations", {"002_add_campaigns": ADD_CAMPAIGNS})
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    old_backups = [
        tmp_path / f"marketing.db.backup-001_initial-2020010{day}T000000000000Z.db" for day in (1, 2, 3)
    ]
    for old in old_backups:
        old.write_bytes(b"an older backup")
    other_database_backup = tmp_path / "other.db.backup-001_initial-20200101T000000000000Z.db"
    other_database_backup.write_bytes(b"not ours")
    started = datetime.now(timezone.utc)

    process = spawn(db_path, env=env)
    ready = process.wait_ready()
    assert process.stop() == 0

    backup = Path(ready["backupPath"])
    assert backup.parent == tmp_path
    match = BACKUP_NAME.match(backup.name)
    assert match is not None, backup.name
    assert match["version"] == "001_initial"
    stamp = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)
    assert started - timedelta(seconds=1) <= stamp <= datetime.now(timezone.utc)

    # The backup contains the file as it was before the migration.
    assert integrity(backup) == ["ok"]
    assert history(backup) == shipped_migration_names()
    assert task_names(backup) == list(SEEDED_TASKS)
    assert "marketing_campaigns" in table_names(db_path)

    # The newest three backups of this file are kept, and another file's backups are left alone.
    kept_backups = sorted(entry.name for entry in tmp_path.glob("marketing.db.backup-*"))
    assert kept_backups == sorted([old_backups[1].name, old_backups[2].name, backup.name])
    assert other_database_backup.exists()


def test_no_backup_for_new_file(spawn, db_path):
    process = spawn(db_path)
    ready = process.wait_ready()
    assert process.stop() == 0

    assert ready["migrationsApplied"] == shipped_migration_names()
    assert ready["backupPath"] is None
    assert sorted(entry.name for entry in db_path.parent.iterdir()) == [db_path.name]


def test_failed_backup_stops_migration(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(tmp_path / "migrations", {"002_add_campaigns": ADD_CAMPAIGNS})
    folder = tmp_path / "data"
    folder.mkdir()
    db_path = seeded_database(tmp_path_factory, folder / "marketing.db")
    before = logical_dump(db_path)

    # An open connection keeps the -wal and -shm files in place, so the
    # sidecar can use the database while the immutable folder rejects only
    # the new backup file.
    with connect(db_path) as holder:
        holder.execute("SELECT COUNT(*) FROM marketing_tasks").fetchone()
        with immutable(folder):
            process = spawn(db_path, env=env)
            error = degraded_error(process)
            assert process.stop() == 0
            names_while_immutable = sorted(entry.name for entry in folder.iterdir())

    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert "Backup of" in error["message"]
    assert str(db_path) in error["message"]
    assert "no migration was applied" in error["message"]
    assert names_while_immutable == ["marketing.db", "marketing.db-shm", "marketing.db-wal"]
    assert logical_dump(db_path) == before
    assert "marketing_campaigns" not in table_names(db_path)


# --- a newer database ---------------------------------------------------------------


def test_newer_database_left_untouched(spawn, tmp_path, tmp_path_factory):
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    with connect(db_path) as connection:
        connection.execute(
            "INSERT INTO marketing_migrations (name, migrated_at) VALUES ('099_from_newer_build', '2027-01-01')"
        )
        # Rollback-journal mode: a sidecar that switched to WAL before
        # rejecting the file would change its header.
        connection.execute("PRAGMA journal_mode=delete")
    before = db_path.read_bytes()

    process = spawn(db_path)
    error = degraded_error(process)
    status = process.call("get-status")
    data_error = process.call_error("list-marketing-tasks")
    assert process.stop() == 0
    exit_code, lines = migrate_only(spawn, db_path)

    assert error["code"] == "DATABASE_NOT_READY"
    assert "099_from_newer_build" in error["message"]
    assert status["state"] == "degraded"
    assert data_error["code"] == "DATABASE_NOT_READY"
    assert exit_code == 3
    assert len(lines) == 1
    assert lines[0]["success"] is False
    assert "099_from_newer_build" in lines[0]["error"]["message"]
    assert db_path.read_bytes() == before
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [db_path.name]


# --- adopting a hand-made table ------------------------------------------------------


HAND_MADE_TASKS = (
    "CREATE TABLE marketing_tasks (id INTEGER PRIMARY KEY, name TEXT, status TEXT, target_count INTEGER, "
    "stats_total_contacts INTEGER, created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
)


def test_hand_made_tasks_table_adopted(spawn, tmp_path):
    reference = tmp_path / "reference.db"
    exit_code, _ = migrate_only(spawn, reference)
    assert exit_code == 0

    hand_made = tmp_path / "marketing.db"
    with connect_new(hand_made) as connection:
        connection.execute(HAND_MADE_TASKS)
        connection.executemany(
            "INSERT INTO marketing_tasks (id, name, status, target_count, stats_total_contacts, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (1, "測試001", "draft", 110, 110, "2026-12-01 10:00:00"),
                (2, "hand made", "sent", 5, None, "2026-12-02 11:30:00"),
            ],
        )

    process = spawn(hand_made)
    ready = process.wait_ready()
    listed = process.call("list-marketing-tasks")
    created = process.call("create-marketing-task", {"name": "after adoption", "audience": {"source": "recent"}})
    assert process.stop() == 0

    assert ready["migrationsApplied"] == shipped_migration_names()
    assert history(hand_made) == shipped_migration_names()
    tasks = {task["id"]: task for task in listed["tasks"]}
    assert sorted(tasks) == [1, 2]
    assert tasks[1]["name"] == "測試001"
    assert tasks[1]["targetCount"] == 110
    assert tasks[1]["createdAt"] == "2026-12-01T10:00:00.000Z"
    assert tasks[2]["status"] == "draft"
    assert tasks[2]["statsTotalContacts"] == 5
    assert created["task"]["id"] == 3
    adopted = [record for record in process.log_records() if record.get("event") == "migration.adopted_table"]
    assert len(adopted) == 1
    assert adopted[0]["level"] == "warning"
    assert adopted[0]["rows"] == 2

    # The table now has the shape a new file gets: columns, types,
    # NOT NULL, key, AUTOINCREMENT and indexes.
    assert table_shape(hand_made) == table_shape(reference)
    assert integrity(hand_made) == ["ok"]


def test_adoption_keeps_extra_columns_and_ids(spawn, tmp_path):
    db_path = tmp_path / "marketing.db"
    with connect_new(db_path) as connection:
        connection.execute(
            "CREATE TABLE marketing_tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, note TEXT)"
        )
        connection.executemany(
            "INSERT INTO marketing_tasks (name, note) VALUES (?, ?)", [("kept", "a note"), ("deleted", None)]
        )
        connection.execute("DELETE FROM marketing_tasks WHERE name = 'deleted'")

    process = spawn(db_path)
    process.wait_ready()
    created = process.call("create-marketing-task", {"name": "after adoption", "audience": {"source": "recent"}})
    assert process.stop() == 0

    # Id 2 was issued before the adoption, so it is never issued again.
    assert created["task"]["id"] == 3
    with connect(db_path) as connection:
        assert connection.execute("SELECT id, name, note FROM marketing_tasks ORDER BY id").fetchall() == [
            (1, "kept", "a note"),
            (3, "after adoption", None),
        ]


def table_shape(db_path: Path) -> dict:
    with connect(db_path) as connection:
        columns = connection.execute("PRAGMA table_info(marketing_tasks)").fetchall()
        indexes = {
            row[1]: (row[2], [column[2] for column in connection.execute(f'PRAGMA index_info("{row[1]}")')])
            for row in connection.execute("PRAGMA index_list(marketing_tasks)")
        }
        create_sql = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'marketing_tasks'"
        ).fetchone()[0]
    return {
        "columns": [(name, kind, not_null, primary_key) for _, name, kind, not_null, _, primary_key in columns],
        "indexes": indexes,
        "autoincrement": "AUTOINCREMENT" in create_sql,
    }


# --- progress -------------------------------------------------------------------------


def test_progress_reported_before_ready(spawn, db_path, tmp_path):
    extra = {
        "002_add_campaigns": ADD_CAMPAIGNS,
        "003_add_task_note": ADD_TASK_NOTE,
        "004_slow_table": slow_migration("marketing_slow_table"),
    }
    env = make_migrations_folder(tmp_path / "migrations", extra)
    names = [*shipped_migration_names(), *extra]

    process = spawn(db_path, env=env)
    boot, before = process.wait_boot()
    assert process.stop() == 0

    assert boot["method"] == "sidecar-ready"
    assert [message["method"] for message in before] == ["migration-progress"] * len(names)
    assert [message["params"] for message in before] == [
        {"name": name, "index": index, "total": len(names)} for index, name in enumerate(names, start=1)
    ]
    assert boot["params"]["migrationsApplied"] == names


# --- table rebuilds ---------------------------------------------------------------------


def target_rows(db_path: Path) -> list[tuple]:
    with connect(db_path) as connection:
        return connection.execute("SELECT task_id, contact_id FROM marketing_task_targets ORDER BY 1, 2").fetchall()


def test_table_rebuild_keeps_target_rows(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(tmp_path / "migrations", {"002_change_task_name": CHANGE_TASK_NAME})
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    targets_before = target_rows(db_path)
    assert len(targets_before) > 12

    process = spawn(db_path, env=env)
    ready = process.wait_ready()
    listed = process.call("list-marketing-tasks")
    assert process.stop() == 0

    assert ready["migrationsApplied"] == ["002_change_task_name"]
    with connect(db_path) as connection:
        create_sql = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'marketing_tasks'"
        ).fetchone()[0]
        foreign_keys_after = connection.execute("PRAGMA foreign_key_list(marketing_task_targets)").fetchall()
    # The migration really rebuilt the parent table of the targets.
    assert '"name" VARCHAR(100) NOT NULL' in create_sql
    assert {row[2] for row in foreign_keys_after} == {"marketing_tasks", "marketing_contacts"}
    assert target_rows(db_path) == targets_before
    assert foreign_key_violations(db_path) == []
    assert integrity(db_path) == ["ok"]
    assert sorted(task["name"] for task in listed["tasks"]) == sorted(SEEDED_TASKS)


# --- reads write nothing -------------------------------------------------------------------


def snapshot(db_path: Path) -> dict[str, bytes | None]:
    """Return the bytes of the database and its -wal file. The -shm file contains only reader marks."""
    files = {"db": db_path, "wal": Path(f"{db_path}-wal")}
    return {key: path.read_bytes() if path.exists() else None for key, path in files.items()}


def test_reads_leave_file_unchanged(spawn, tmp_path, tmp_path_factory):
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    process = spawn(db_path)
    process.wait_ready()
    # Taken while the sidecar runs: closing it would checkpoint the -wal file
    # into the database, a change that has nothing to do with the reads.
    before = snapshot(db_path)

    for _ in range(3):
        status = process.call("get-status")
        assert status["pendingMigrations"] == []
    process.call("list-marketing-tasks")
    process.call("get-marketing-task", {"id": 1})
    process.call("list-events")
    process.call("estimate-audience", {"audience": {"source": "tag", "tags": ["vip"]}})

    assert snapshot(db_path) == before
    assert process.stop() == 0


def test_status_creates_no_history_table(spawn, tmp_path):
    env = make_migrations_folder(tmp_path / "migrations", {"002_broken_halfway": BROKEN_HALFWAY})
    db_path = tmp_path / "marketing.db"
    with connect_new(db_path) as connection:
        connection.execute("CREATE TABLE app_settings (key TEXT PRIMARY KEY, value TEXT)")

    process = spawn(db_path, env=env)
    degraded_error(process)
    before = snapshot(db_path)
    statuses = [process.call("get-status") for _ in range(3)]

    pending = [*shipped_migration_names(), "002_broken_halfway"]
    assert [status["pendingMigrations"] for status in statuses] == [pending] * 3
    assert [status["appliedMigrations"] for status in statuses] == [[]] * 3
    assert snapshot(db_path) == before
    assert table_names(db_path) == {"app_settings"}
    assert process.stop() == 0
    assert table_names(db_path) == {"app_settings"}


def test_migrate_only_prints_a_line_under_content_length(db_path):
    """--migrate-only prints one JSON line even when the framing flag asks for Content-Length frames."""
    result = subprocess.run(
        [*sidecar_command(), "--db", str(db_path), "--migrate-only", "--framing", "content-length"],
        capture_output=True,
        timeout=60,
    )

    assert result.returncode == 0
    lines = result.stdout.decode("utf-8").splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["success"] is True


def test_adoption_repairs_missing_or_unreadable_audience(spawn, tmp_path):
    db_path = tmp_path / "marketing.db"
    with connect_new(db_path) as connection:
        connection.execute(
            "CREATE TABLE marketing_tasks (id INTEGER PRIMARY KEY, name TEXT, status TEXT, audience TEXT, "
            "target_count INTEGER, stats_total_contacts INTEGER, created_at TEXT)"
        )
        connection.executemany(
            "INSERT INTO marketing_tasks VALUES (?, ?, 'draft', ?, 0, 0, '2026-12-01 10:00:00')",
            [(1, "no audience", None), (2, "broken audience", "{not json")],
        )

    process = spawn(db_path)
    process.wait_ready()
    listed = process.call("list-marketing-tasks")
    assert process.stop() == 0

    assert [task["audience"]["source"] for task in listed["tasks"]] == ["recent", "recent"]
