"""Files, migration folders and SQLite checks shared by the boot tests.

The tests drive real sidecar processes, and this module only prepares their
files and inspects the results with the sqlite3 module.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MIGRATIONS = REPO_ROOT / "migrations"
MIGRATIONS_DIR_ENV_VAR = "MARKETING_SIDECAR_MIGRATIONS_DIR"
HISTORY_TABLE = "marketing_migrations"

# Text that must never appear in a sidecar's stderr during these tests.
LOG_PROBLEMS = ("database is locked", "already exists", "Traceback")


def migration_source(body: str) -> str:
    """Wrap the body of a peewee-migrate migrate() function into a migration file."""
    return (
        "import time\n\nimport peewee as pw\n\n\n"
        "def migrate(migrator, database, fake=False, **kwargs):\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + "\n"
    )


ADD_CAMPAIGNS = migration_source(
    """
    migrator.sql('CREATE TABLE "marketing_campaigns" (id INTEGER PRIMARY KEY, title TEXT NOT NULL)')
    """
)
ADD_TASK_NOTE = migration_source(
    """
    migrator.sql('ALTER TABLE "marketing_tasks" ADD COLUMN "note" TEXT')
    """
)
# Creates a table, then fails on the database's own error.
BROKEN_HALFWAY = migration_source(
    """
    migrator.sql('CREATE TABLE "marketing_half_done" (id INTEGER PRIMARY KEY)')
    migrator.sql('ALTER TABLE "marketing_missing" ADD COLUMN "x" TEXT')
    """
)
# Rebuilds marketing_tasks, the parent of marketing_task_targets.
CHANGE_TASK_NAME = migration_source(
    """
    migrator.change_fields("marketing_tasks", name=pw.CharField(max_length=100))
    """
)
SLOW_ROWS = 4000
SLOW_PAUSE_SECONDS = 0.04


def slow_migration(table: str) -> str:
    """Return a migration that creates table, pauses, then fills it with SLOW_ROWS rows of random text.

    The pause stretches each migration so that a kill can land inside it.
    """
    return migration_source(
        f"""
        migrator.sql('CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, body TEXT NOT NULL)')
        migrator.run(time.sleep, {SLOW_PAUSE_SECONDS})
        migrator.sql(
            'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SLOW_ROWS}) '
            'INSERT INTO "{table}" (body) SELECT hex(randomblob(200)) FROM n'
        )
        """
    )


def make_migrations_folder(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    """Copy the shipped migrations into folder and add extra ({name: source}).

    Returns the environment that points a sidecar at the folder.
    """
    folder.mkdir(parents=True)
    for shipped in SHIPPED_MIGRATIONS.glob("[0-9][0-9][0-9]_*.py"):
        shutil.copy(shipped, folder / shipped.name)
    for name, source in extra.items():
        (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return {MIGRATIONS_DIR_ENV_VAR: str(folder)}


def shipped_migration_names() -> list[str]:
    return sorted(path.stem for path in SHIPPED_MIGRATIONS.glob("[0-9][0-9][0-9]_*.py"))


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """Open path for inspection in autocommit mode and close it afterwards."""
    connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def history(path: Path) -> list[str]:
    with connect(path) as connection:
        if HISTORY_TABLE not in _tables(connection):
            return []
        return [row[0] for row in connection.execute(f'SELECT name FROM "{HISTORY_TABLE}" ORDER BY id')]


def table_names(path: Path) -> set[str]:
    with connect(path) as connection:
        return _tables(connection)


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def integrity(path: Path) -> list[str]:
    """Return the rows of PRAGMA integrity_check, which are ["ok"] for a sound file."""
    with connect(path) as connection:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]


def foreign_key_violations(path: Path) -> list[tuple]:
    with connect(path) as connection:
        return connection.execute("PRAGMA foreign_key_check").fetchall()


def logical_dump(path: Path) -> list[str]:
    """Return the schema and every row as SQL statements, the file's content independent of its pages."""
    with connect(path) as connection:
        return list(connection.iterdump())


def task_names(path: Path) -> list[str]:
    with connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM marketing_tasks ORDER BY id")]


def log_problems(process) -> list[str]:
    """Return the stderr lines of process that mention a lock, a duplicate table or a traceback."""
    lines = [line.decode("utf-8", "replace") for line in process.stderr_lines]
    return [line for line in lines if any(problem in line for problem in LOG_PROBLEMS)]


def log_events(process) -> list[str]:
    return [record.get("event") for record in process.log_records()]


def make_host_file(path: Path) -> None:
    """Create a file as the host app would: its own table with rows, rollback-journal mode, no marketing tables."""
    with connect_new(path) as connection:
        connection.execute("PRAGMA journal_mode=delete")
        connection.execute("CREATE TABLE app_settings (key TEXT PRIMARY KEY, value TEXT)")
        connection.executemany(
            "INSERT INTO app_settings VALUES (?, ?)", [("theme", "dark"), ("language", "zh-TW")]
        )


@contextlib.contextmanager
def connect_new(path: Path) -> Iterator[sqlite3.Connection]:
    """Open path, creating it when missing, in autocommit mode."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def copy_database(source: Path, target: Path) -> Path:
    """Copy a closed database file (no -wal beside it) to target."""
    if Path(f"{source}-wal").exists():
        raise AssertionError(f"{source} still has a -wal file; close every connection first")
    shutil.copyfile(source, target)
    return target


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Make path immutable with chattr +i, which stops even root from writing it; undo on exit."""
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {result.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


_seeded_templates: dict[str, Path] = {}


def seeded_database(tmp_path_factory, target: Path) -> Path:
    """Copy to target a database migrated by the sidecar and holding contacts, tasks and task targets.

    The template is built once per test session by a real sidecar.
    """
    template = _seeded_templates.get("seeded")
    if template is None:
        template = _build_seeded_template(tmp_path_factory.mktemp("seeded") / "template.db")
        _seeded_templates["seeded"] = template
    return copy_database(template, target)


SEEDED_TASKS = ("seeded manual task", "seeded tag task")


def _build_seeded_template(path: Path) -> Path:
    from sidecar_process import SidecarProcess

    contacts = [
        {"externalId": f"tg:{10000 + number}", "displayName": f"Contact {number}", "intentScore": number * 3,
         "tags": ["vip"] if number % 2 else ["new"], "groups": ["group-a"]}
        for number in range(30)
    ]
    with SidecarProcess(path) as process:
        process.wait_ready()
        process.call("upsert-contacts", {"contacts": contacts})
        manual = {"source": "manual", "contactIds": [contact["externalId"] for contact in contacts[:12]]}
        process.call("create-marketing-task", {"name": SEEDED_TASKS[0], "audience": manual})
        process.call("create-marketing-task", {"name": SEEDED_TASKS[1], "audience": {"source": "tag", "tags": ["vip"]}})
        process.call("shutdown")
        exit_code = process.stop()
    if exit_code != 0:
        raise AssertionError(f"seeding sidecar exited with {exit_code}")
    return path
