"""Database paths that cannot be served: the sidecar degrades, names the path and the cause, and creates nothing.

Each case runs a serving sidecar and a --migrate-only one at the same time.
Tests run as root, so an unwritable file is made with chattr +i.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from boot_support import immutable, seeded_database


@contextlib.contextmanager
def corrupt_file(tmp_path: Path, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    db_path = tmp_path / "marketing.db"
    # Random bytes that cannot start with the 16-byte SQLite header.
    db_path.write_bytes(b"\x00garbage" + os.urandom(8192))
    yield db_path, "file is not a database"


@contextlib.contextmanager
def zero_length_file(tmp_path: Path, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    db_path = tmp_path / "marketing.db"
    db_path.touch()
    yield db_path, "empty (0 bytes)"


@contextlib.contextmanager
def path_is_folder(tmp_path: Path, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    db_path = tmp_path / "marketing.db"
    db_path.mkdir()
    yield db_path, "is a folder"


@contextlib.contextmanager
def parent_is_file(tmp_path: Path, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    blocker = tmp_path / "data"
    blocker.write_text("a regular file where the folder should be")
    yield blocker / "nested" / "marketing.db", f"{blocker} is a file"


@contextlib.contextmanager
def read_only_file(tmp_path: Path, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    # A migrated file: the boot has nothing to write, so only a probe finds
    # that the file cannot be written.
    db_path = seeded_database(tmp_path_factory, tmp_path / "marketing.db")
    with immutable(db_path):
        yield db_path, "readonly database"


BAD_FILES: dict[str, Callable] = {
    "corrupt": corrupt_file,
    "zero_length": zero_length_file,
    "folder": path_is_folder,
    "parent_is_file": parent_is_file,
    "read_only": read_only_file,
}


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_degrades_with_cause(case, spawn, tmp_path, tmp_path_factory):
    data_folder = tmp_path / "data-home"
    work_folder = tmp_path / "work"
    data_folder.mkdir()
    work_folder.mkdir()
    # A sidecar that fell back to a default location would create its file
    # in one of these two folders.
    env = {"XDG_DATA_HOME": str(data_folder), "HOME": str(data_folder)}
    with BAD_FILES[case](tmp_path, tmp_path_factory) as (db_path, cause):
        files_before = set(listing(tmp_path))

        serving = spawn(db_path, "--locale", "en", env=env, cwd=work_folder)
        migrating = spawn(db_path, "--migrate-only", env=env, cwd=work_folder)

        boot, _ = serving.wait_boot()
        status = serving.call("get-status")
        data_error = serving.call_error("list-marketing-tasks")
        assert serving.stop() == 0
        exit_code = migrating.wait_exit()
        files_after = set(listing(tmp_path))

    assert boot["method"] == "sidecar-degraded", boot
    error = boot["params"]["error"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert str(db_path) in error["message"]
    assert cause in error["message"]
    assert error["userMessage"]
    assert status["state"] == "degraded"
    assert status["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert data_error["code"] == "DATABASE_NOT_READY"

    assert exit_code == 3
    assert len(migrating.raw_lines) == 1
    line = json.loads(migrating.raw_lines[0])
    assert line["success"] is False
    assert line["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert str(db_path) in line["error"]["message"]

    for process in (serving, migrating):
        assert all(json.loads(raw) for raw in process.raw_lines), "stdout carries only JSON messages"
        assert b"Traceback" not in b"".join(process.stderr_lines)
    # SQLite may leave its -wal and -shm files beside a read-only database.
    # No other file appears, and no database elsewhere.
    created = {name for name in files_after - files_before if not name.endswith(("-wal", "-shm"))}
    assert created == set()
    assert listing(data_folder) == []
    assert listing(work_folder) == []
