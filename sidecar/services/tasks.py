"""Create, read and list marketing tasks.

Tasks travel as plain wire dicts built straight from rows (see
task_queries.task_from_row): validating every listed task through pydantic
would cost more than reading it. The wire shape is the Task model in
schemas/models.py, and the tests check real responses against its schema.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

import peewee

from sidecar.errors import IDEMPOTENCY_CONFLICT, FieldError, SidecarError, not_found, validation_failed
from sidecar.schemas.models import Audience, CreateMarketingTaskParams, ListMarketingTasksParams
from sidecar.storage import task_queries
from sidecar.storage.audience_queries import audience_contacts_sql
from sidecar.storage.timefmt import to_utc_text

logger = logging.getLogger(__name__)

TASK_CREATED = "marketing-task-created"


@dataclass
class Notification:
    method: str
    params: dict[str, Any]


@dataclass
class CreateOutcome:
    result: dict[str, Any]
    # None for a replayed call: its notification went out the first time.
    notification: Notification | None


def request_fingerprint(fields: dict[str, Any], audience_model: Audience) -> str:
    """Hash the stored fields; audience lists count as sets, so their order does not matter."""
    audience = audience_model.model_dump(by_alias=True)
    for key in ("tags", "groups", "contactIds"):
        audience[key] = sorted(set(audience[key]))
    canonical = json.dumps({**fields, "audience": audience}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _scheduled_at_text(params: CreateMarketingTaskParams) -> str | None:
    return to_utc_text(params.scheduled_at) if params.scheduled_at is not None else None


def _is_client_request_id_conflict(error: peewee.IntegrityError) -> bool:
    return "marketing_tasks.client_request_id" in str(error)


class TaskService:
    def __init__(self, database: peewee.SqliteDatabase, now: Callable[[], str]) -> None:
        self.database = database
        self.now = now

    def create(self, params: CreateMarketingTaskParams) -> CreateOutcome:
        """Store the task, its target rows and its event in one transaction.

        A clientRequestId already stored returns its task as replayed when the
        params match, and raises IDEMPOTENCY_CONFLICT when they differ. The
        lookup runs inside the write transaction, which begins IMMEDIATE, so
        a second sidecar on the same file waits for the first one's commit
        and then finds its row. The unique index on client_request_id backs
        this up: should an insert still hit it, the stored task is returned
        as a replay (or the conflict raised).
        """
        stored = {
            "name": params.name,
            "audience": params.audience.model_dump_json(),
            "estimated_audience": params.estimated_audience,
            "message_template": params.message_template,
            "scheduled_at": _scheduled_at_text(params),
        }
        fingerprint = request_fingerprint(stored, params.audience)

        try:
            return self._create_or_replay(params, stored, fingerprint)
        except peewee.IntegrityError as error:
            if params.client_request_id is None or not _is_client_request_id_conflict(error):
                raise
            conflict = error

        logger.warning(
            "clientRequestId was stored by another writer during the create; replaying its task",
            extra={"event": "task.key_race", "clientRequestId": params.client_request_id},
        )
        with self.database.atomic():
            earlier = self._find_by_client_request_id(params.client_request_id)
        if earlier is None:
            raise conflict
        return self._replay(earlier, fingerprint)

    def _find_by_client_request_id(self, client_request_id: str) -> tuple | None:
        return self.database.execute_sql(task_queries.SELECT_BY_CLIENT_REQUEST_ID, (client_request_id,)).fetchone()

    def _create_or_replay(self, params: CreateMarketingTaskParams, stored: dict[str, Any], fingerprint: str) -> CreateOutcome:
        with self.database.atomic():
            if params.client_request_id is not None:
                earlier = self._find_by_client_request_id(params.client_request_id)
                if earlier is not None:
                    return self._replay(earlier, fingerprint)

            task = self._insert_task(params, stored, fingerprint)
            seq = self.database.execute_sql(
                task_queries.INSERT_EVENT,
                (TASK_CREATED, task["id"], json.dumps({"task": task}, ensure_ascii=False), task["createdAt"]),
            ).lastrowid

        logger.info(
            "task created",
            extra={"event": "task.created", "taskId": task["id"], "seq": seq, "targetCount": task["targetCount"]},
        )
        return CreateOutcome(
            result={"success": True, "replayed": False, "task": task},
            notification=Notification(TASK_CREATED, {"seq": seq, "task": task}),
        )

    def _insert_task(self, params: CreateMarketingTaskParams, stored: dict[str, Any], fingerprint: str) -> dict[str, Any]:
        timestamp = self.now()
        status = "scheduled" if stored["scheduled_at"] else "draft"
        task_id = self.database.execute_sql(
            task_queries.INSERT_TASK,
            (
                stored["name"],
                status,
                stored["audience"],
                stored["estimated_audience"],
                stored["message_template"],
                stored["scheduled_at"],
                params.client_request_id,
                fingerprint,
                timestamp,
                timestamp,
            ),
        ).lastrowid

        audience_sql, audience_params = audience_contacts_sql(params.audience)
        target_count = self.database.execute_sql(
            task_queries.INSERT_TARGETS.format(audience_sql=audience_sql), [task_id, *audience_params]
        ).rowcount

        # statsTotalContacts starts equal to the resolved count; statistics
        # count against it later.
        self.database.execute_sql(task_queries.SET_TARGET_COUNT, (target_count, target_count, task_id))
        return task_queries.task_from_row(
            (
                task_id,
                stored["name"],
                status,
                stored["audience"],
                stored["estimated_audience"],
                target_count,
                target_count,
                stored["message_template"],
                stored["scheduled_at"],
                params.client_request_id,
                timestamp,
                timestamp,
            )
        )

    def _replay(self, earlier: tuple, fingerprint: str) -> CreateOutcome:
        task = task_queries.task_from_row(earlier)
        if earlier[-1] != fingerprint:
            raise SidecarError(
                IDEMPOTENCY_CONFLICT,
                f"clientRequestId {task['clientRequestId']!r} was already used for task {task['id']} "
                "with different params",
            )
        logger.info("task create replayed", extra={"event": "task.replayed", "taskId": task["id"]})
        return CreateOutcome(result={"success": True, "replayed": True, "task": task}, notification=None)

    def get(self, task_id: int) -> dict[str, Any]:
        row = self.database.execute_sql(task_queries.SELECT_BY_ID, (task_id,)).fetchone()
        if row is None:
            raise not_found(f"Marketing task {task_id} does not exist")
        return {"success": True, "task": task_queries.task_from_row(row)}

    def list(self, params: ListMarketingTasksParams) -> dict[str, Any]:
        """List tasks newest first, paging by id (keyset) rather than OFFSET."""
        before = decode_cursor(params.cursor) if params.cursor is not None else None
        query_params: list[Any] = [value for value in (before, params.status) if value is not None]
        query_params.append(params.limit + 1)
        rows = self.database.execute_sql(
            task_queries.LIST_PAGE[(before is not None, params.status is not None)], query_params
        ).fetchall()

        has_more = len(rows) > params.limit
        rows = rows[: params.limit]
        next_cursor = encode_cursor(rows[-1][0]) if has_more else None
        return {"success": True, "tasks": [task_queries.task_from_row(row) for row in rows], "nextCursor": next_cursor}


_CURSOR_PREFIX = "before:"


def encode_cursor(task_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{task_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    value = text[len(_CURSOR_PREFIX):] if text.startswith(_CURSOR_PREFIX) else ""
    if not (value.isascii() and value.isdigit()):
        raise validation_failed(
            "cursor is not one that list-marketing-tasks returned",
            [FieldError("cursor", "Invalid cursor; pass the nextCursor of a previous page")],
        )
    return int(value)
