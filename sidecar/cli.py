"""Entry point: parse flags, claim stdio, boot the database, serve requests."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from sidecar import __version__
from sidecar.messages import DEFAULT_LOCALE, SUPPORTED_LOCALES

logger = logging.getLogger("sidecar")

EXIT_OK = 0
EXIT_MIGRATION_FAILED = 3
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketing-sidecar", description="Marketing-task sidecar: JSON-RPC 2.0 over stdio.")
    parser.add_argument("--db", help="SQLite file to serve (default: $MARKETING_SIDECAR_DB, then marketing.db in the user data folder)")
    parser.add_argument("--locale", choices=SUPPORTED_LOCALES, default=DEFAULT_LOCALE, help="language of userMessage texts")
    parser.add_argument("--framing", choices=("ndjson", "content-length"), default="ndjson", help="message framing on stdin and stdout")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info", help="lowest level logged to stderr")
    parser.add_argument("--max-message-bytes", type=_positive_int, default=DEFAULT_MAX_MESSAGE_BYTES, help="largest accepted message, in bytes (default 1 MiB)")
    parser.add_argument("--migrate-only", action="store_true", help="migrate the database, print one JSON line and exit 0 (ok) or 3 (failed)")
    parser.add_argument("--version", action="version", version=f"marketing-sidecar {__version__}")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive number of bytes")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from sidecar.transport.serve import PROCESS_STOP_SIGNAL
    from sidecar.transport.stdio import claim_stdio
    from sidecar.logs import configure_logging

    # Before boot, so that a SIGTERM during migrations ends the process only
    # once they are done and the database is closed.
    PROCESS_STOP_SIGNAL.install()

    pipes = claim_stdio()
    listener = configure_logging(args.log_level, pipes.log_stream)
    try:
        return run(args, pipes)
    finally:
        listener.stop()


def run(args: argparse.Namespace, pipes: Any) -> int:
    from sidecar.boot.paths import resolve_db_path
    from sidecar.boot.startup import boot_database
    from sidecar.transport.serve import PROCESS_STOP_SIGNAL
    from sidecar.transport.writer import OutputClosed, ProtocolWriter

    if pipes.protocol_out is None:
        logger.error("stdout is missing; nothing can be answered", extra={"event": "sidecar.no_stdout"})
        return EXIT_OK

    # --migrate-only prints one JSON line whatever the framing, for scripts.
    writer = ProtocolWriter(pipes.protocol_out, "ndjson" if args.migrate_only else args.framing)
    db_path = resolve_db_path(args.db)
    logger.info("sidecar starting", extra={"event": "sidecar.start", "version": __version__, "pid": os.getpid(), "dbPath": str(db_path)})

    def report_progress(name: str, index: int, total: int) -> None:
        logger.info("applying migration", extra={"event": "boot.migration_progress", "migration": name, "index": index, "total": total})
        if not args.migrate_only:
            writer.notify("migration-progress", {"name": name, "index": index, "total": total})

    report = None
    try:
        report = boot_database(db_path, report_progress, should_stop=lambda: PROCESS_STOP_SIGNAL.received)
        if args.migrate_only:
            return _finish_migrate_only(writer, report, args.locale)
        _announce_boot(writer, report, args.locale)
        _serve(args, pipes, writer, report)
    except OutputClosed:
        logger.warning("stdout closed; stopping", extra={"event": "sidecar.stdout_closed"})
    finally:
        if report is not None and report.database is not None:
            report.database.close()
    logger.info("sidecar stopped", extra={"event": "sidecar.stop"})
    return EXIT_OK


def _ready_params(report: Any) -> dict[str, Any]:
    return {
        "version": __version__,
        "dbPath": str(report.db_path),
        "schemaVersion": report.schema_version,
        "migrationsApplied": report.applied_now,
        "backupPath": str(report.backup_path) if report.backup_path else None,
        "pid": os.getpid(),
    }


def _announce_boot(writer: Any, report: Any, locale: str) -> None:
    if report.ready:
        writer.notify("sidecar-ready", _ready_params(report))
    else:
        writer.notify(
            "sidecar-degraded",
            {"version": __version__, "dbPath": str(report.db_path), "error": report.error.error_info(locale)},
        )


def _finish_migrate_only(writer: Any, report: Any, locale: str) -> int:
    if report.ready:
        writer.write_message({"success": True, **_ready_params(report)})
        return EXIT_OK
    writer.write_message({"success": False, "error": report.error.error_info(locale)})
    return EXIT_MIGRATION_FAILED


def _serve(args: argparse.Namespace, pipes: Any, writer: Any, report: Any) -> None:
    from sidecar.boot.startup import boot_database
    from sidecar.dispatch.context import ServerContext
    from sidecar.dispatch.dispatcher import Dispatcher
    from sidecar.storage.timefmt import utc_now_text
    from sidecar.transport.framing import make_reader
    from sidecar.transport.serve import Server

    def reboot() -> Any:
        # Re-run the boot checks on the same file, on the open connection's
        # path; the old connection is replaced.
        if context.boot.database is not None:
            context.boot.database.close()
        context.boot = boot_database(report.db_path, lambda name, index, total: None)
        return context.boot

    context = ServerContext(locale=args.locale, version=__version__, boot=report, reboot=reboot, now=utc_now_text)
    dispatcher = Dispatcher(context)

    if pipes.protocol_in is None:
        return
    reader = make_reader(args.framing, pipes.protocol_in, args.max_message_bytes)
    server = Server(reader, writer, dispatcher.handle, args.locale, should_stop=lambda: context.shutdown_requested)
    server.install_signal_handlers()
    server.serve()
    if context.boot.database is not None:
        context.boot.database.close()
