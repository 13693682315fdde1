"""A regular wheel install in a fresh venv finds and applies its migrations from any folder."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def test_wheel_migrates_from_unrelated_folder(tmp_path):
    wheel_folder = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheel_folder), str(REPOSITORY)],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(wheel_folder.glob("marketing_sidecar-*.whl"))

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, cwd=tmp_path)

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    db_path = tmp_path / "data" / "nested" / "marketing.db"
    result = subprocess.run(
        [str(environment / "bin" / "marketing-sidecar"), "--db", str(db_path), "--migrate-only"],
        cwd=workdir,
        capture_output=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1
    outcome = json.loads(lines[0])
    assert outcome["success"] is True
    assert outcome["migrationsApplied"] == ["001_initial"]
    assert outcome["dbPath"] == str(db_path)
    assert list(workdir.iterdir()) == [], "nothing is created in the working folder"

    top_level = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('migrations'), u.find_spec('schemas'))"],
        capture_output=True,
        cwd=workdir,
        check=True,
    )
    assert top_level.stdout.decode().split() == ["None", "None"], "no generic top-level package is installed"
