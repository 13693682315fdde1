"""Create, read and list marketing tasks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

import peewee

from sidecar.errors import IDEMPOTENCY_CONFLICT, SidecarError, not_found, validation_failed, FieldError
from sidecar.schemas.models import (
    Audience,
    CreateMarketingTaskParams,
    CreateMarketingTaskResult,
    GetMarketingTaskResult,
    ListMarketingTasksParams,
    ListMarketingTasksResult,
    Task,
)
from sidecar.storage.audience_queries import audience_contacts_sql
from sidecar.storage.models import EventRow, TaskRow
from sidecar.storage.timefmt import to_utc_text

logger = logging.getLogger(__name__)

TASK_CREATED = "marketing-task-created"


@dataclass
class Notification:
    method: str
    params: dict[str, Any]


@dataclass
class CreateOutcome:
    result: CreateMarketingTaskResult
    # None for a replayed call: its notification went out the first time.
    notification: Notification | None


def task_from_row(row: TaskRow) -> Task:
    return Task(
        id=row.id,
        name=row.name,
        status=row.status,
        audience=Audience.model_validate_json(row.audience),
        estimated_audience=row.estimated_audience,
        target_count=row.target_count,
        stats_total_contacts=row.stats_total_contacts,
        message_template=row.message_template,
        scheduled_at=row.scheduled_at,
        client_request_id=row.client_request_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def request_fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class TaskService:
    def __init__(self, database: peewee.SqliteDatabase, now: Callable[[], str]) -> None:
        self.database = database
        self.now = now

    def create(self, params: CreateMarketingTaskParams) -> CreateOutcome:
        """Store the task, its target rows and its event in one transaction."""
        stored = {
            "name": params.name,
            "audience": params.audience.model_dump_json(),
            "estimated_audience": params.estimated_audience,
            "message_template": params.message_template,
            "scheduled_at": to_utc_text(params.scheduled_at) if params.scheduled_at else None,
        }
        fingerprint = request_fingerprint(stored)

        with self.database.atomic():
            if params.client_request_id is not None:
                earlier = TaskRow.get_or_none(TaskRow.client_request_id == params.client_request_id)
                if earlier is not None:
                    return self._replay(earlier, fingerprint)

            task_id, target_count = self._insert_task(stored, params.client_request_id, fingerprint)
            task = task_from_row(TaskRow.get_by_id(task_id))
            task_json = task.model_dump(mode="json")
            seq = EventRow.insert(
                type=TASK_CREATED,
                task_id=task_id,
                payload=json.dumps({"task": task_json}, ensure_ascii=False),
                created_at=task.created_at,
            ).execute()

        logger.info(
            "task created",
            extra={"event": "task.created", "taskId": task_id, "seq": seq, "targetCount": target_count},
        )
        return CreateOutcome(
            result=CreateMarketingTaskResult(replayed=False, task=task),
            notification=Notification(TASK_CREATED, {"seq": seq, "task": task_json}),
        )

    def _insert_task(self, stored: dict[str, Any], client_request_id: str | None, fingerprint: str) -> tuple[int, int]:
        timestamp = self.now()
        task_id = TaskRow.insert(
            **stored,
            status="scheduled" if stored["scheduled_at"] else "draft",
            client_request_id=client_request_id,
            request_fingerprint=fingerprint,
            created_at=timestamp,
            updated_at=timestamp,
        ).execute()

        audience = Audience.model_validate_json(stored["audience"])
        select_sql, select_params = audience_contacts_sql(audience)
        target_count = self.database.execute_sql(
            f"INSERT INTO marketing_task_targets (task_id, contact_id) SELECT ?, id FROM ({select_sql})",
            [task_id, *select_params],
        ).rowcount

        # statsTotalContacts starts equal to the resolved count; statistics
        # count against it later.
        TaskRow.update(target_count=target_count, stats_total_contacts=target_count).where(
            TaskRow.id == task_id
        ).execute()
        return task_id, target_count

    def _replay(self, earlier: TaskRow, fingerprint: str) -> CreateOutcome:
        if earlier.request_fingerprint != fingerprint:
            raise SidecarError(
                IDEMPOTENCY_CONFLICT,
                f"clientRequestId {earlier.client_request_id!r} was already used for task {earlier.id} "
                "with different params",
            )
        logger.info("task create replayed", extra={"event": "task.replayed", "taskId": earlier.id})
        return CreateOutcome(result=CreateMarketingTaskResult(replayed=True, task=task_from_row(earlier)), notification=None)

    def get(self, task_id: int) -> GetMarketingTaskResult:
        row = TaskRow.get_or_none(TaskRow.id == task_id)
        if row is None:
            raise not_found(f"Marketing task {task_id} does not exist")
        return GetMarketingTaskResult(task=task_from_row(row))

    def list(self, params: ListMarketingTasksParams) -> ListMarketingTasksResult:
        """List tasks newest first, paging by id (keyset) rather than OFFSET."""
        query = TaskRow.select().order_by(TaskRow.id.desc()).limit(params.limit + 1)
        if params.status is not None:
            query = query.where(TaskRow.status == params.status)
        if params.cursor is not None:
            query = query.where(TaskRow.id < decode_cursor(params.cursor))

        rows = list(query)
        has_more = len(rows) > params.limit
        rows = rows[: params.limit]
        next_cursor = encode_cursor(rows[-1].id) if has_more else None
        return ListMarketingTasksResult(tasks=[task_from_row(row) for row in rows], next_cursor=next_cursor)


_CURSOR_PREFIX = "before:"


def encode_cursor(task_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{task_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    value = text[len(_CURSOR_PREFIX):] if text.startswith(_CURSOR_PREFIX) else ""
    if not value.isdigit():
        raise validation_failed(
            "cursor is not one that list-marketing-tasks returned",
            [FieldError("cursor", "Invalid cursor; pass the nextCursor of a previous page")],
        )
    return int(value)
