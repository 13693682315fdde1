"""The Electron main-process bridge, tests/node/sidecar-bridge.mjs, under `node --test` against the real sidecar.

The Node tests in tests/node/bridge.test.mjs cover the boot, typed errors,
timeouts, restarts and catch-up after a SIGKILL; this test runs them with the
sidecar command under test and fails with their output.
"""

from __future__ import annotations

import json
import os
import subprocess

from sidecar_process import sidecar_command

NODE_TEST_TIMEOUT = 180


def test_node_bridge_suite(node_project, tmp_path):
    temporary = str(tmp_path)
    completed = subprocess.run(
        ["node", "--test", "bridge.test.mjs"],
        cwd=node_project,
        env={
            **os.environ,
            "SIDECAR_COMMAND": json.dumps(sidecar_command()),
            # os.tmpdir() in Node reads these, so the test databases live under pytest's tmp_path.
            "TMPDIR": temporary,
            "TEMP": temporary,
            "TMP": temporary,
        },
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=NODE_TEST_TIMEOUT,
    )

    assert completed.returncode == 0, f"node --test bridge.test.mjs failed:\n{completed.stdout[-8000:]}\n{completed.stderr[-4000:]}"
