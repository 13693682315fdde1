"""Repair at run time: the served file is replaced, deleted, restored or loses a table while the sidecar runs.

A connection keeps using the inode it opened, so after os.replace or a
delete its writes would go to a file no one opens again. Each test checks the
file at the path itself, not only the sidecar's responses.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from boot_support import (
    ADD_CAMPAIGNS,
    SEEDED_TASKS,
    connect,
    history,
    integrity,
    log_events,
    make_host_file,
    make_migrations_folder,
    seeded_database,
    shipped_migration_names,
    table_names,
    task_names,
)

RECENT = {"source": "recent"}


def create_task(process, name: str) -> dict:
    return process.call("create-marketing-task", {"name": name, "audience": RECENT})["task"]


def test_replaced_file_reopened_before_next_call(spawn, tmp_path):
    db_path = tmp_path / "marketing.db"
    make_host_file(db_path)
    old_copy = shutil.copyfile(db_path, tmp_path / "old-copy.db")

    process = spawn(db_path)
    process.wait_ready()
    create_task(process, "before the replacement")
    os.replace(old_copy, db_path)

    created = create_task(process, "after the replacement")
    listed = process.call("list-marketing-tasks")

    # The old copy had no marketing tables. The check migrated it again, and
    # the task went into the file now at the path.
    assert task_names(db_path) == ["after the replacement"]
    assert [task["name"] for task in listed["tasks"]] == ["after the replacement"]
    assert created["id"] == 1
    assert history(db_path) == shipped_migration_names()
    assert process.stop() == 0
    assert log_events(process).count("db.file_replaced") == 1
    # The old connection's -wal frames were not replayed onto the new file.
    assert integrity(db_path) == ["ok"]
    assert task_names(db_path) == ["after the replacement"]
    with connect(db_path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM app_settings").fetchone()[0] == 2


def test_deleted_file_recreated_before_next_call(spawn, tmp_path, tmp_path_factory):
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    process = spawn(db_path)
    process.wait_ready()
    create_task(process, "before the delete")
    # Only the database is deleted. Its -wal and -shm files stay, as they do
    # when a user deletes the one file they see.
    db_path.unlink()

    created = create_task(process, "after the delete")

    assert created["id"] == 1
    assert task_names(db_path) == ["after the delete"]
    assert process.call("get-marketing-task", {"id": created["id"]})["task"]["name"] == "after the delete"
    assert process.stop() == 0
    assert integrity(db_path) == ["ok"]
    assert task_names(db_path) == ["after the delete"]
    assert history(db_path) == shipped_migration_names()


def test_restored_backup_migrated_before_next_call(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(tmp_path / "migrations", {"002_add_campaigns": ADD_CAMPAIGNS})
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    process = spawn(db_path, env=env)
    backup = Path(process.wait_ready()["backupPath"])
    create_task(process, "lost with the restore")

    # Restore as a user would: copy the backup and move the copy into place.
    restored = shutil.copyfile(backup, tmp_path / "restoring.db")
    os.replace(restored, db_path)
    listed = process.call("list-marketing-tasks")
    created = create_task(process, "after the restore")

    assert sorted(task["name"] for task in listed["tasks"]) == sorted(SEEDED_TASKS)
    assert history(db_path) == [*shipped_migration_names(), "002_add_campaigns"]
    assert "marketing_campaigns" in table_names(db_path)
    assert task_names(db_path) == [*SEEDED_TASKS, "after the restore"]
    assert created["name"] == "after the restore"
    assert process.stop() == 0
    assert integrity(db_path) == ["ok"]


def test_dropped_schema_recreated_on_next_call(spawn, db_path):
    process = spawn(db_path)
    process.wait_ready()
    create_task(process, "dropped with its table")
    with connect(db_path) as connection:
        for table in sorted(table_names(db_path)):
            if table.startswith("marketing_"):
                connection.execute(f'DROP TABLE "{table}"')

    created = create_task(process, "after the drop")

    assert created["id"] == 1
    assert task_names(db_path) == ["after the drop"]
    assert history(db_path) == shipped_migration_names()
    assert process.stop() == 0
    assert "db.schema_missing" in log_events(process)


def test_dropped_table_reports_not_ready(spawn, db_path):
    process = spawn(db_path)
    process.wait_ready()
    create_task(process, "dropped with its table")
    # The history still names the migration that created the table, so the
    # migration check cannot bring it back.
    with connect(db_path) as connection:
        connection.execute("DROP TABLE marketing_task_targets")
        connection.execute("DROP TABLE marketing_tasks")

    list_error = process.call_error("list-marketing-tasks")
    create_error = process.call_error("create-marketing-task", {"name": "no table", "audience": RECENT})
    status = process.call("get-status")

    assert list_error["code"] == "DATABASE_NOT_READY"
    assert "marketing_tasks" in list_error["message"]
    assert create_error["code"] == "DATABASE_NOT_READY"
    assert status["state"] == "degraded"
    assert "marketing_tasks" not in table_names(db_path)
    assert process.stop() == 0
