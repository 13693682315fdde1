"""Sidecars that boot on one file at the same moment, and sidecars killed while booting.

Every test runs real sidecar processes on real SQLite files.
"""

from __future__ import annotations

import random
import threading
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
FRESH_FILE_ROUNDS = 3

SLOW_TABLES = {f"00{number}_slow_{number}": f"marketing_slow_{number}" for number in range(2, 5)}
SLOW_MIGRATIONS = {name: slow_migration(table) for name, table in SLOW_TABLES.items()}

KILL_ROUNDS = 20
KILL_SEED = 20261204
# Most of a sidecar's boot is Python importing its modules, which keeps a
# core busy. Two rounds at a time shorten the test without starving a small
# CI machine.
KILL_WORKERS = 2


def start_together(spawn, db_paths: list[Path], **kwargs) -> list[list]:
    """Start SIDECARS sidecars on each file from threads released at once, so that their boots overlap."""
    barrier = threading.Barrier(SIDECARS * len(db_paths))

    def start(db_path: Path):
        barrier.wait()
        return spawn(db_path, **kwargs)

    targets = [db_path for db_path in db_paths for _ in range(SIDECARS)]
    with ThreadPoolExecutor(len(targets)) as pool:
        processes = list(pool.map(start, targets))
    return [processes[index:index + SIDECARS] for index in range(0, len(processes), SIDECARS)]


def assert_clean_logs(processes) -> None:
    for process in processes:
        assert log_problems(process) == [], process.stderr_tail(30)


def test_four_sidecars_on_fresh_file(spawn, tmp_path):
    # Whether two sidecars meet while one creates the file depends on timing,
    # so the case runs on several files at once to make that likely.
    db_paths = [tmp_path / f"round-{number}" / "marketing.db" for number in range(FRESH_FILE_ROUNDS)]
    groups = start_together(spawn, db_paths)

    shipped = shipped_migration_names()
    for db_path, processes in zip(db_paths, groups):
        boots = [process.wait_ready() for process in processes]
        assert sorted((boot["migrationsApplied"] for boot in boots), key=len) == [[], [], [], shipped]
        assert all(boot["schemaVersion"] == shipped[-1] for boot in boots)
        assert all(boot["backupPath"] is None for boot in boots)
        assert history(db_path) == shipped
        assert integrity(db_path) == ["ok"]

    for db_path, processes in zip(db_paths, groups):
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

    [processes] = start_together(spawn, [db_path], env=env)
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
    """When to kill: a delay after the start, or a delay after a migration-progress notification.

    fresh_file starts the boot on a path with no file, so that the kill can
    land while the file is being created.
    """

    delay: float
    progress_index: int | None = None
    fresh_file: bool = False

    def wait(self, process) -> None:
        if self.progress_index is not None:
            process.read_until(
                lambda message: message.get("method") == "migration-progress"
                and message["params"]["index"] == self.progress_index
            )
        # A pause that only picks the moment of the kill, not a wait for an event.
        time.sleep(self.delay)


def kill_points() -> list[KillPoint]:
    """Spread the kills over the whole boot: start-up, backup, each migration and the commit."""
    rng = random.Random(KILL_SEED)
    points = [KillPoint(delay=rng.uniform(0.05, 0.7)) for _ in range(3)]
    # Python's imports take the first few tenths of a second. The file is
    # created right after them.
    points += [KillPoint(delay=rng.uniform(0.2, 0.5), fresh_file=True) for _ in range(3)]
    total = len(SLOW_MIGRATIONS)
    for round_number in range(KILL_ROUNDS - len(points)):
        points.append(KillPoint(delay=rng.uniform(0.0, 0.1), progress_index=round_number % total + 1))
    return points


def assert_history_matches_tables(db_path: Path, history_before: list[str]) -> None:
    applied = history(db_path)
    tables = table_names(db_path)
    # All pending migrations run in one transaction: none or all of them.
    assert applied in (history_before, [*shipped_migration_names(), *SLOW_TABLES])
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
    history_before = [] if point.fresh_file else shipped_migration_names()
    victim = spawn(db_path, env=env)
    point.wait(victim)
    victim.kill()

    # A fresh path shows nothing or a valid file, never a truncated one.
    if db_path.exists():
        assert integrity(db_path) == ["ok"], point
        assert_history_matches_tables(db_path, history_before)

    survivor = spawn(db_path, env=env)
    ready = survivor.wait_ready()
    assert ready["schemaVersion"] == list(SLOW_TABLES)[-1]
    assert survivor.stop() == 0
    assert log_problems(survivor) == [], survivor.stderr_tail(30)

    assert integrity(db_path) == ["ok"], point
    assert foreign_key_violations(db_path) == []
    assert_history_matches_tables(db_path, history_before)
    assert_backups_sound(db_path)


def test_kill_during_boot_leaves_consistent_file(spawn, tmp_path, tmp_path_factory):
    env = make_migrations_folder(tmp_path / "migrations", SLOW_MIGRATIONS)
    rounds = []
    for number, point in enumerate(kill_points()):
        round_folder = tmp_path / f"round-{number:02d}"
        round_folder.mkdir()
        db_path = round_folder / "marketing.db"
        if not point.fresh_file:
            seeded_database(tmp_path_factory, db_path)
        rounds.append((db_path, point))

    with ThreadPoolExecutor(KILL_WORKERS) as pool:
        results = [pool.submit(kill_and_recover, spawn, db_path, env, point) for db_path, point in rounds]
        for result in results:
            result.result()
