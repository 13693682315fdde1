"""The frozen sidecar (PyInstaller one-folder bundle) passes the same process-level tests.

The bundle is built once for this module with the documented command,
`python -m sidecar.freeze --dist DIR`. The build takes about 15 s and the
contract tests about 70 s on two cores. The module is skipped only when
PyInstaller is not importable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PyInstaller", reason="PyInstaller is not installed; `pip install -e '.[test]'` installs it")

from host_app_db import create_host_app_database, dump_host_tables  # noqa: E402

from sidecar.freeze import bundle_executable  # noqa: E402

TESTS_FOLDER = Path(__file__).resolve().parent

BUILD_TIMEOUT_SECONDS = 600
CONTRACT_TESTS_TIMEOUT_SECONDS = 900

# Test files whose sidecars are started through SIDECAR_TEST_COMMAND, so they
# run against the bundle. Any in-process tests in them still run against the
# source.
CONTRACT_TEST_FILES = (
    "test_incident.py",
    "test_error_codes.py",
    "test_schemas.py",
    "test_database_failures.py",
    "test_events.py",
    "test_idempotency.py",
    "test_fuzz.py",
)
CONTRACT_TEST_PATTERNS = ("test_boot_*.py", "test_protocol_*.py")


@pytest.fixture(scope="module")
def frozen_executable(tmp_path_factory):
    """Build the bundle with the documented command and remove it after the module."""
    root = tmp_path_factory.mktemp("frozen")
    # PyInstaller keeps a cache in the user's cache folder unless
    # PYINSTALLER_CONFIG_DIR names another folder.
    env = {**os.environ, "PYINSTALLER_CONFIG_DIR": str(root / "pyinstaller-cache")}
    completed = subprocess.run(
        [sys.executable, "-m", "sidecar.freeze", "--dist", str(root / "dist")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, f"python -m sidecar.freeze failed; stderr ends with:\n{completed.stderr[-5000:]}"

    executable = bundle_executable(root / "dist")
    assert executable.is_file(), f"the build wrote no executable at {executable}"
    yield executable
    shutil.rmtree(root, ignore_errors=True)


def contract_test_files() -> list[Path]:
    files = [TESTS_FOLDER / name for name in CONTRACT_TEST_FILES]
    for pattern in CONTRACT_TEST_PATTERNS:
        files += sorted(TESTS_FOLDER.glob(pattern))
    return files


def test_frozen_migrates_host_app_database(frozen_executable, spawn, tmp_path, monkeypatch):
    monkeypatch.setenv("SIDECAR_TEST_COMMAND", json.dumps([str(frozen_executable)]))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    db_path = tmp_path / "data" / "host.db"
    db_path.parent.mkdir()
    create_host_app_database(db_path)
    host_before = dump_host_tables(db_path)

    sidecar = spawn(db_path, cwd=workdir)
    ready = sidecar.wait_ready(timeout=60)
    assert sidecar.process.args[0] == str(frozen_executable)
    assert ready["pid"] == sidecar.process.pid, "the bundle runs without a wrapper process"
    assert ready["migrationsApplied"] == ["001_initial"]
    assert ready["dbPath"] == str(db_path)
    assert ready["backupPath"] is not None, "a file holding data is backed up before migrating"

    contacts = [
        {"externalId": "tg:1", "displayName": "王小明", "intentScore": 60, "tags": ["vip"]},
        {"externalId": "tg:2", "displayName": "李小華", "intentScore": 20, "tags": ["vip"]},
        {"externalId": "tg:3", "displayName": "陳大文", "intentScore": 90, "tags": []},
    ]
    upserted = sidecar.call("upsert-contacts", {"contacts": contacts})
    assert (upserted["inserted"], upserted["updated"]) == (3, 0)

    response, before = sidecar.request("create-marketing-task", {"name": "测试001", "audience": {"source": "tag", "tags": ["vip"]}})
    assert before == []
    task = response["result"]["task"]
    assert task["targetCount"] == 2
    created, _ = sidecar.read_until(lambda message: message.get("method") == "marketing-task-created")
    assert created["params"]["task"] == task

    status = sidecar.call("get-status", {})
    assert status["state"] == "ready"
    assert status["appliedMigrations"] == ["001_initial"]
    assert status["pendingMigrations"] == []
    discover = sidecar.call("rpc.discover", {})
    assert "openrpc" in discover, "rpc.discover reads openrpc.json from the bundle"

    assert sidecar.stop() == 0
    assert dump_host_tables(db_path) == host_before
    assert list(workdir.iterdir()) == [], "nothing is created in the working folder"


def test_frozen_passes_contract_tests(frozen_executable, tmp_path):
    files = contract_test_files()
    missing = [path.name for path in files if not path.is_file()]
    assert missing == [], "a contract test file listed here was renamed or removed"

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "SIDECAR_TEST_COMMAND": json.dumps([str(frozen_executable)])}
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q",
            "-p", "no:cacheprovider",
            "--basetemp", str(tmp_path / "basetemp"),
            *map(str, files),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=CONTRACT_TESTS_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, f"contract tests failed against {frozen_executable}:\n{completed.stdout[-8000:]}"
