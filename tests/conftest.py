import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sidecar_process import SidecarProcess  # noqa: E402


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "marketing.db"


@pytest.fixture
def spawn(tmp_path: Path):
    """Start sidecars that are killed at the end of the test whatever happened."""
    started: list[SidecarProcess] = []

    def start(db_path=None, *args, **kwargs) -> SidecarProcess:
        process = SidecarProcess(db_path, *args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.__exit__(None, None, None)


@pytest.fixture
def sidecar(spawn, db_path):
    """A booted sidecar on a fresh database."""
    process = spawn(db_path)
    process.wait_ready()
    return process


NODE_PROJECT = Path(__file__).parent / "node"
NPM_CI_TIMEOUT = 600


def _node_modules_stale(project: Path) -> bool:
    # npm writes node_modules/.package-lock.json at the end of every install.
    installed = project / "node_modules" / ".package-lock.json"
    locked = project / "package-lock.json"
    return not installed.is_file() or installed.stat().st_mtime < locked.stat().st_mtime


@pytest.fixture(scope="session")
def node_project() -> Path:
    """Return tests/node with its npm packages installed by `npm ci` when missing or older than the lock file.

    Skips when node or npm is not on PATH; a failed install fails the test.
    """
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("the Node tests need both node and npm on PATH")
    if _node_modules_stale(NODE_PROJECT):
        command = [npm, "ci", "--no-audit", "--no-fund"]
        try:
            completed = subprocess.run(command, cwd=NODE_PROJECT, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {NODE_PROJECT} timed out after {NPM_CI_TIMEOUT} s; check access to the npm registry", pytrace=False)
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr)[-4000:]
            pytest.fail(f"`npm ci` in {NODE_PROJECT} failed with exit code {completed.returncode}:\n{output}", pytrace=False)
    return NODE_PROJECT
