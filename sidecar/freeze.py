"""Build the shipped form of the sidecar: a PyInstaller one-folder bundle.

    python -m sidecar.freeze [--dist DIR] [--work DIR]

The build writes DIR/marketing-sidecar/ (DIR defaults to ./dist), replacing
an earlier build there. Ship that whole folder: its marketing-sidecar executable (marketing-sidecar.exe on
Windows) takes the same flags as the installed marketing-sidecar command,
and the _internal/ folder beside it contains the interpreter, the libraries and
the data files. One-folder mode is used because a one-file executable
unpacks itself to a temporary folder on every start, which delays
sidecar-ready.

PyInstaller builds for the platform it runs on, so each platform's bundle is
built on that platform. It is an optional dependency, installed by
`pip install -e '.[freeze]'` (and by the test extra).

After building, the command boots the bundle on a new scratch database in a
scratch working folder, which applies every migration, and calls
rpc.discover, so a bundle that lacks a migration, a module that a migration
imports, a schema file or a library's data file fails the build.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXECUTABLE_NAME = "marketing-sidecar"

# The packages of this project, copied into one tree for PyInstaller. An
# editable install maps sidecar.migrations and sidecar.schemas to the
# repository's top-level folders through an import hook that PyInstaller's
# import analysis does not follow, so the analysis runs on a copy in the
# installed layout.
PROJECT_PACKAGES = ("sidecar", "sidecar.migrations", "sidecar.schemas")

# Destinations of the data files inside the bundle, relative to its top
# folder. The boot code lists the migrations in the folder of
# sidecar.migrations.__file__, and rpc.discover reads the schemas from
# sidecar/schemas/json beside sidecar.schemas.generate.__file__, so the files
# go where the frozen modules' __file__ attributes point.
MIGRATIONS_DESTINATION = "sidecar/migrations"
SCHEMAS_DESTINATION = "sidecar/schemas/json"

# Packages whose data files are read at run time: jsonrpcserver loads its
# request-schema.json when imported, and jsonschema (used by jsonrpcserver)
# loads the meta-schemas from jsonschema_specifications. The hooks in
# pyinstaller-hooks-contrib collect both too; naming them here keeps the
# bundle complete without relying on those hooks.
DATA_PACKAGES = ("jsonrpcserver", "jsonschema_specifications")

# Modules that PyInstaller's import analysis is not relied on to find:
# peewee-migrate is imported inside a function, only when a migration is
# pending. The imports of the migration files (playhouse.sqlite_ext among
# them) are added by migration_imports(), because those files are executed
# from the folder and never analyzed as modules.
HIDDEN_IMPORTS = ("sidecar.migrations", "peewee_migrate", "peewee_migrate.router", "peewee_migrate.models")

# Test-only packages that PyInstaller would otherwise bundle: pydantic.v1
# ships a Hypothesis plugin that imports hypothesis, which the sidecar never
# loads.
EXCLUDED_MODULES = ("hypothesis", "pytest", "_pytest")

# Upper bound on the check boot, which also creates and migrates the scratch
# database. That takes seconds at most, so reaching the bound means a hang.
CHECK_TIMEOUT_SECONDS = 120.0

ENTRY_SCRIPT = '''\
"""Entry point of the frozen marketing sidecar."""

from sidecar.cli import main

raise SystemExit(main())
'''


class FreezeError(Exception):
    """The bundle could not be built, or the built bundle failed its check."""


def executable_file_name() -> str:
    return EXECUTABLE_NAME + (".exe" if sys.platform == "win32" else "")


def bundle_executable(dist: Path) -> Path:
    """Return the path of the frozen executable that a build into `dist` writes."""
    return dist / EXECUTABLE_NAME / executable_file_name()


def migration_files() -> list[Path]:
    """Return the shipped migration files, found through the package like the boot code does."""
    import sidecar.migrations

    folder = Path(sidecar.migrations.__file__).resolve().parent
    files = sorted(path for path in folder.glob("*.py") if path.name != "__init__.py")
    if not files:
        raise FreezeError(f"No migration files found in {folder}")
    return files


def schema_files() -> list[Path]:
    from sidecar.schemas.generate import OPENRPC_FILE, SCHEMA_FOLDER

    files = sorted(SCHEMA_FOLDER.glob("*.json"))
    if SCHEMA_FOLDER / OPENRPC_FILE not in files:
        raise FreezeError(f"{OPENRPC_FILE} is missing from {SCHEMA_FOLDER}; run python -m sidecar.schemas.generate")
    return files


def migration_imports(files: list[Path]) -> list[str]:
    """Return every absolute module name that the migration files import, such as playhouse.sqlite_ext."""
    modules: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module)
    return sorted(modules)


def stage_packages(target: Path) -> None:
    """Copy the project's packages into `target` in the layout that a wheel installs."""
    import importlib

    for name in PROJECT_PACKAGES:
        source = Path(importlib.import_module(name).__file__).resolve().parent
        destination = target.joinpath(*name.split("."))
        shutil.copytree(source, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


def pyinstaller_arguments(entry_script: Path, sources: Path, dist: Path, work: Path) -> list[str]:
    """Build the PyInstaller command-line arguments for the one-folder bundle."""
    migrations = migration_files()
    arguments = [
        str(entry_script),
        "--name", EXECUTABLE_NAME,
        "--paths", str(sources),
        "--onedir",
        "--console",
        "--noconfirm",
        "--log-level", "WARN",
        "--distpath", str(dist),
        "--workpath", str(work / "build"),
        "--specpath", str(work),
    ]
    # PyInstaller 6 accepts ":" between source and destination on every
    # platform, and splits a Windows drive letter off correctly.
    for path in migrations:
        arguments += ["--add-data", f"{path}:{MIGRATIONS_DESTINATION}"]
    for path in schema_files():
        arguments += ["--add-data", f"{path}:{SCHEMAS_DESTINATION}"]
    for package in DATA_PACKAGES:
        arguments += ["--collect-data", package]
    for module in sorted({*HIDDEN_IMPORTS, *migration_imports(migrations)}):
        arguments += ["--hidden-import", module]
    for module in EXCLUDED_MODULES:
        arguments += ["--exclude-module", module]
    return arguments


def build(dist: Path, work: Path) -> Path:
    """Run PyInstaller in this process and return the path of the frozen executable."""
    try:
        import PyInstaller.__main__
    except ImportError as error:
        raise FreezeError("PyInstaller is not installed; install it with: pip install -e '.[freeze]'") from error

    work.mkdir(parents=True, exist_ok=True)
    sources = work / "sources"
    shutil.rmtree(sources, ignore_errors=True)
    stage_packages(sources)
    entry_script = work / "marketing_sidecar_entry.py"
    entry_script.write_text(ENTRY_SCRIPT, encoding="utf-8")
    PyInstaller.__main__.run(pyinstaller_arguments(entry_script, sources, dist, work))

    executable = bundle_executable(dist)
    if not executable.is_file():
        raise FreezeError(f"PyInstaller finished but wrote no executable at {executable}")
    return executable


def check_bundle(executable: Path) -> None:
    """Boot the bundle on a new database, call rpc.discover and get-status, and raise FreezeError on a failure.

    Both requests are written before the boot ends (they wait in the pipe),
    and the end of stdin then makes the sidecar exit 0.
    """
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"},
        {"jsonrpc": "2.0", "id": 2, "method": "get-status", "params": {}},
    ]
    request_bytes = b"".join(json.dumps(request).encode("utf-8") + b"\n" for request in requests)

    with tempfile.TemporaryDirectory(prefix="marketing-sidecar-check-") as scratch:
        scratch_folder = Path(scratch)
        try:
            completed = subprocess.run(
                [str(executable), "--db", str(scratch_folder / "check.db"), "--log-level", "warning"],
                input=request_bytes,
                capture_output=True,
                cwd=scratch_folder,
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired as error:
            raise FreezeError(f"{executable} did not exit within {CHECK_TIMEOUT_SECONDS:.0f} s of its check") from error

    log_tail = completed.stderr.decode("utf-8", "replace")[-2000:]
    if completed.returncode != 0:
        raise FreezeError(f"{executable} exited with status {completed.returncode} during its check; stderr ends with:\n{log_tail}")

    try:
        messages = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    except ValueError as error:
        raise FreezeError(f"{executable} wrote a line that is not JSON to stdout: {error}") from error
    boot = next((message for message in messages if message.get("method") in ("sidecar-ready", "sidecar-degraded")), None)
    if boot is None or boot["method"] != "sidecar-ready":
        raise FreezeError(f"{executable} did not boot ready on a new database: {boot}; stderr ends with:\n{log_tail}")

    responses = {message.get("id"): message for message in messages if "method" not in message}
    discover = responses.get(1, {})
    if "openrpc" not in discover.get("result", {}):
        raise FreezeError(f"rpc.discover of {executable} returned no OpenRPC document: {discover}")
    status = responses.get(2, {}).get("result", {})
    if status.get("state") != "ready" or status.get("pendingMigrations") != []:
        raise FreezeError(f"get-status of {executable} is not ready with nothing pending: {status}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.freeze",
        description="Build the marketing sidecar as a PyInstaller one-folder bundle and check that it boots.",
    )
    parser.add_argument(
        "--dist",
        type=Path,
        default=Path("dist"),
        metavar="DIR",
        help="folder that receives marketing-sidecar/ (default: ./dist)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        metavar="DIR",
        help="folder for PyInstaller's intermediate files, kept after the build "
        "(default: a temporary folder that is removed afterwards)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dist = args.dist.absolute()
    started = time.perf_counter()
    try:
        if args.work is not None:
            executable = build(dist, args.work.absolute())
        else:
            with tempfile.TemporaryDirectory(prefix="marketing-sidecar-freeze-") as work:
                executable = build(dist, Path(work))
        built = time.perf_counter()
        check_bundle(executable)
    except FreezeError as error:
        print(f"freeze failed: {error}", file=sys.stderr)
        return 1

    print(f"built {executable} in {built - started:.1f} s; its check boot passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
