"""Sidecars that boot on one file at the same moment, and sidecars killed while booting.

Every test runs real sidecar processes on real SQLite files.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from boot_support import (
    ADD_CAMPAIGNS,
    ADD_TASK_NOTE,
    SLOW_ROWS,
    connect,
    foreign_key_violations,
    history,
    integrity,
    log_problems,
    make_host_file,
    make_migrations_folder,
    seeded_database,
    shipped_migration_names,
    slow_migration,
    table_names,
)

SIDECARS = 4

SLOW_TABLES = {f"00{number}_slow_{number}": f"marketing_slow_{number}" for number in range(2, 5)}
SLOW_MIGRATIONS = {name: slow_migration(table) for name, table in SLOW_TABLES.items()}

KILL_ROUNDS = 20
KILL_SEED = 20261204
# The rounds run two at a time: the machine has at least two cores, and most
# of a sidecar's boot is Python importing its modules.
KILL_WORKERS = 2


def start_together(spawn, db_path: Path, count: int, **kwargs) -> list:
    return [spawn(db_path, **kwargs) for _ in range(count)]


def assert_clean_logs(processes) -> None:
    for process in processes:
        assert log_problems(process) == [], process.stderr_tail(30)


def test_four_sidecars_on_fresh_file(spawn, db_path):
    processes = start_together(spawn, db_path, SIDECARS)

    boots = [process.wait_ready() for process in processes]

    shipped = shipped_migration_names()
    assert sorted((boot["migrationsApplied"] for boot in boots), key=len) == [[], [], [], shipped]
    assert all(boot["schemaVersion"] == shipped[-1] for boot in boots)
    assert all(boot["backupPath"] is None for boot in boots)
    assert history(db_path) == shipped
    assert integrity(db_path) == ["ok"]

    assert [process.stop() for process in processes] == [0] * SIDECARS
    assert_clean_logs(processes)
    # No staging file of the creation race and no second database were left.
    assert sorted(entry.name for entry in db_path.parent.iterdir()) == [db_path.name]


def test_four_sidecars_on_file_with_pending_migrations(spawn, db_path, tmp_path):
    # A host app's file in rollback-journal mode: every sidecar must also
    # switch it to WAL, which needs the other connections out of the way.
    make_host_file(db_path)
    env = make_migrations_folder(
        tmp_path / "migrations", {"002_add_campaigns": ADD_CAMPAIGNS, "003_add_task_note": ADD_TASK_NOTE}
    )
    expected = [*shipped_migration_names(), "002_add_campaigns", "003_add_task_note"]

    processes = start_together(spawn, db_path, SIDECARS, env=env)
    boots = [process.wait_ready() for process in processes]

    assert sorted((boot["migrationsApplied"] for boot in boots), key=len) == [[], [], [], expected]
    backups = [boot["backupPath"] for boot in boots if boot["backupPath"] is not None]
    assert len(backups) == 1
    assert history(db_path) == expected
    assert {"marketing_tasks", "marketing_campaigns"} <= table_names(db_path)
    with connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT key, value FROM app_settings ORDER BY key").fetchall() == [
            ("language", "zh-TW"),
            ("theme", "dark"),
        ]

    assert [process.stop() for process in processes] == [0] * SIDECARS
    assert_clean_logs(processes)


@dataclass
class KillPoint:
    """When to kill: a delay after the start, or a delay after a migration-progress notification."""

    delay: float
    progress_index: int | None = None

    def wait(self, process) -> None:
        if self.progress_index is not None:
            process.read_until(
                lambda message: message.get("method") == "migration-progress"
                and message["params"]["index"] == self.progress_index
            )
        # A pause that only picks the moment of the kill; nothing is awaited.
        time.sleep(self.delay)


def kill_points() -> list[KillPoint]:
    """Spread the kills over the whole boot: start-up, backup, each migration and the commit."""
    rng = random.Random(KILL_SEED)
    points = [KillPoint(delay=rng.uniform(0.05, 0.7)) for _ in range(6)]
    total = len(SLOW_MIGRATIONS)
    for round_number in range(KILL_ROUNDS - len(points)):
        points.append(KillPoint(delay=rng.uniform(0.0, 0.1), progress_index=round_number % total + 1))
    return points


def assert_history_matches_tables(db_path: Path) -> None:
    applied = history(db_path)
    tables = table_names(db_path)
    # All pending migrations run in one transaction: none or all of them.
    assert applied in (shipped_migration_names(), [*shipped_migration_names(), *SLOW_TABLES])
    for name, table in SLOW_TABLES.items():
        assert (table in tables) == (name in applied), (name, applied, sorted(tables))
        if table in tables:
            with connect(db_path) as connection:
                assert connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] == SLOW_ROWS


def assert_backups_sound(db_path: Path) -> None:
    names = [entry.name for entry in db_path.parent.iterdir()]
    assert not [name for name in names if ".partial" in name], names
    for name in names:
        if ".backup-" in name:
            assert integrity(db_path.parent / name) == ["ok"], name


def kill_and_recover(spawn, db_path: Path, env: dict[str, str], point: KillPoint) -> None:
    victim = spawn(db_path, env=env)
    point.wait(victim)
    victim.kill()

    assert integrity(db_path) == ["ok"], point
    assert_history_matches_tables(db_path)

    survivor = spawn(db_path, env=env)
    ready = survivor.wait_ready()
    assert ready["schemaVersion"] == list(SLOW_TABLES)[-1]
    assert survivor.stop() == 0
    assert log_problems(survivor) == [], survivor.stderr_tail(30)

    assert integrity(db_path) == ["ok"], point
    assert foreign_key_violations(db_path) == []
    assert_history_matches_tables(db_path)
    assert_backups_sound(db_path)


def test_kill_during_boot_leaves_consistent_file(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(tmp_path / "migrations", SLOW_MIGRATIONS)
    rounds = []
    for number, point in enumerate(kill_points()):
        round_folder = tmp_path / f"round-{number:02d}"
        round_folder.mkdir()
        rounds.append((seeded_database(tmp_path_factory, round_folder / "marketing.db"), point))

    with ThreadPoolExecutor(KILL_WORKERS) as pool:
        results = [pool.submit(kill_and_recover, spawn, db_path, env, point) for db_path, point in rounds]
        for result in results:
            result.result()
