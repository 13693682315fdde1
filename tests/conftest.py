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
