"""The method table: each protocol method, its params model and its service call."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any, Callable

import peewee
from pydantic import BaseModel, ValidationError

from sidecar.boot.startup import status_plan
from sidecar.dispatch.context import ServerContext
from sidecar.errors import DATABASE_NOT_READY, FieldError, SidecarError, validation_failed
from sidecar.schemas.models import (
    CreateMarketingTaskParams,
    EmptyParams,
    EstimateAudienceParams,
    GetMarketingTaskParams,
    GetStatusResult,
    ListEventsParams,
    ListMarketingTasksParams,
    ShutdownResult,
    UpsertContactsParams,
)
from sidecar.services import audience, contacts, events
from sidecar.services.tasks import TaskService
from sidecar.storage.database import database_file_replaced
from sidecar.storage.errors import classify_database_error, is_database_error, is_missing_schema

logger = logging.getLogger(__name__)

Handler = Callable[[ServerContext, Any], Any]

# peewee wraps its own queries' errors; raw executemany calls raise sqlite3 errors.
DATABASE_ERRORS = (peewee.PeeweeException, sqlite3.Error)


def validate_params(model: type[BaseModel], params: Any) -> Any:
    if not isinstance(params, dict):
        raise validation_failed(
            "params must be an object with named fields",
            [FieldError("", "params must be an object, not an array")],
        )
    try:
        return model.model_validate(params, by_alias=True, by_name=False)
    except ValidationError as error:
        # include_input=False: an error must never echo a huge input back.
        fields = [
            FieldError(".".join(str(part) for part in item["loc"]), item["msg"])
            for item in error.errors(include_input=False, include_url=False, include_context=False)
        ]
        summary = "; ".join(f"{field.path or 'params'}: {field.message}" for field in fields[:5])
        raise validation_failed(f"Invalid params: {summary}", fields) from None


def _create_task(context: ServerContext, params: CreateMarketingTaskParams) -> BaseModel:
    outcome = TaskService(context.database, context.now).create(params)
    if outcome.notification is not None:
        context.queue_notification(outcome.notification)
    return outcome.result


def _get_status(context: ServerContext, params: EmptyParams) -> BaseModel:
    report = context.boot
    applied, pending = status_plan(report)
    return GetStatusResult(
        state="ready" if report.ready else "degraded",
        version=context.version,
        db_path=str(report.db_path),
        schema_version=applied[-1] if applied else None,
        applied_migrations=applied,
        pending_migrations=pending,
        error=report.error.error_info(context.locale) if report.error else None,
    )


def _discover(context: ServerContext, params: EmptyParams) -> dict[str, Any]:
    from sidecar.schemas.generate import OPENRPC_FILE, SCHEMA_FOLDER

    return json.loads((SCHEMA_FOLDER / OPENRPC_FILE).read_text(encoding="utf-8"))


def _shutdown(context: ServerContext, params: EmptyParams) -> BaseModel:
    context.shutdown_requested = True
    return ShutdownResult()


# name: (params model, handler, needs a ready database)
METHOD_TABLE: dict[str, tuple[type[BaseModel], Handler, bool]] = {
    "create-marketing-task": (CreateMarketingTaskParams, _create_task, True),
    "estimate-audience": (EstimateAudienceParams, lambda ctx, p: audience.estimate_audience(ctx.database, p), True),
    "upsert-contacts": (UpsertContactsParams, lambda ctx, p: contacts.upsert_contacts(ctx.database, p, ctx.now), True),
    "list-marketing-tasks": (ListMarketingTasksParams, lambda ctx, p: TaskService(ctx.database, ctx.now).list(p), True),
    "get-marketing-task": (GetMarketingTaskParams, lambda ctx, p: TaskService(ctx.database, ctx.now).get(p.id), True),
    "list-events": (ListEventsParams, lambda ctx, p: events.list_events(ctx.database, p), True),
    "get-status": (EmptyParams, _get_status, False),
    "shutdown": (EmptyParams, _shutdown, False),
    "rpc.discover": (EmptyParams, _discover, False),
}


def call_method(context: ServerContext, name: str, raw_params: Any) -> dict[str, Any]:
    """Validate params, run the handler and return the result as JSON-ready data.

    Raises SidecarError for every failure the client should see typed.
    """
    params_model, handler, needs_database = METHOD_TABLE[name]
    # A degraded sidecar returns DATABASE_NOT_READY for every data method,
    # valid params or not, because no retry with other params can succeed.
    if needs_database and not context.boot.ready:
        raise SidecarError(
            DATABASE_NOT_READY,
            f"Database {context.boot.db_path} is not ready: {context.boot.error.message}",
        )
    params = validate_params(params_model, raw_params)
    if not needs_database:
        return _as_json(handler(context, params))
    return _run_with_repair(context, name, handler, params)


def _as_json(result: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return result if isinstance(result, dict) else result.model_dump(mode="json")


def _run_with_repair(context: ServerContext, name: str, handler: Handler, params: Any) -> dict[str, Any]:
    """Run a data handler; when a table has vanished, re-run the boot checks once and retry.

    The boot checks also run before the handler when the file at the path is
    no longer the one opened, because the handler would otherwise read and
    write the replaced or deleted file.
    """
    if database_file_replaced(context.database):
        logger.warning(
            "database file replaced or deleted while open; re-running the migration check",
            extra={"event": "db.file_replaced", "method": name},
        )
    else:
        try:
            return _as_json(handler(context, params))
        except DATABASE_ERRORS as error:
            if not is_missing_schema(error):
                raise _database_failure(context, error) from error
            logger.warning(
                "table missing at run time; re-running the migration check",
                extra={"event": "db.schema_missing", "method": name, "detail": str(error)},
            )

    report = context.reboot()
    if not report.ready:
        raise SidecarError(
            DATABASE_NOT_READY,
            f"Database {report.db_path} changed while in use and the migration check could not restore it: "
            f"{report.error.message}",
        )
    try:
        return _as_json(handler(context, params))
    except DATABASE_ERRORS as error:
        raise _database_failure(context, error) from error


def _database_failure(context: ServerContext, error: BaseException) -> SidecarError:
    if is_database_error(error):
        return classify_database_error(error, str(context.boot.db_path))
    raise error
