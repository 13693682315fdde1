"""Wire models of the sidecar protocol, in camelCase on the wire."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from typing_extensions import NotRequired, TypedDict

MAX_MANUAL_CONTACTS = 100_000
MAX_UPSERT_CONTACTS = 10_000


class WireModel(BaseModel):
    """Base of every model: camelCase aliases, unknown fields rejected, no coercion.

    Python code builds models by field name; input from a client is validated
    with by_name=False, so the wire accepts camelCase only.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
        # Results always carry their defaulted fields, so the generated
        # schemas mark them as required for the reader.
        json_schema_serialization_defaults_required=True,
    )


_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_OFFSET_TIME_EXAMPLE = "e.g. 2026-12-05T09:00:00+08:00"


def _require_iso_text(value: Any) -> Any:
    # These fields are validated in lax mode so that ISO 8601 text parses.
    # Lax mode also takes a Unix timestamp, as a number or as text like "0",
    # so only text that starts with an ISO 8601 date and time passes here.
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise ValueError(f"must be an ISO 8601 date and time with a UTC offset, {_OFFSET_TIME_EXAMPLE}")
    return value


def _require_utc_year_in_range(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+14:00 is a valid local time whose UTC date falls
    # before year 1, which no stored or returned time can hold.
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("time in UTC is outside the years 1 to 9999") from None


OffsetDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_require_iso_text),
    AfterValidator(_require_utc_year_in_range),
    Field(strict=False),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Percent = Annotated[int, Field(ge=0, le=100)]
UtcTime = Annotated[str, Field(description="ISO 8601 time in UTC with a Z, e.g. 2026-12-04T21:05:35.123Z")]


# --- shared shapes -----------------------------------------------------------


class Audience(WireModel):
    source: Literal["recent", "tag", "group", "manual"]
    tags: list[Label] = Field(default_factory=list, max_length=1000)
    groups: list[Label] = Field(default_factory=list, max_length=1000)
    contact_ids: list[ExternalId] = Field(
        default_factory=list,
        max_length=MAX_MANUAL_CONTACTS,
        description="The contacts' externalId strings",
    )
    min_intent_score: Percent = 0
    recent_days: Annotated[int, Field(ge=1, le=365)] = 30

    @model_validator(mode="after")
    def _check_source_list(self) -> "Audience":
        required = {"tag": "tags", "group": "groups", "manual": "contact_ids"}.get(self.source)
        if required is not None and not getattr(self, required):
            raise ValueError(f"{to_camel(required)} must not be empty when source is {self.source}")
        return self


class FieldErrorInfo(WireModel):
    path: str
    message: str


class ErrorInfo(WireModel):
    code: Literal[
        "PARSE_ERROR",
        "INVALID_REQUEST",
        "METHOD_NOT_FOUND",
        "VALIDATION_FAILED",
        "INTERNAL_ERROR",
        "DATABASE_NOT_READY",
        "DATABASE_BUSY",
        "DATABASE_UNAVAILABLE",
        "IDEMPOTENCY_CONFLICT",
        "NOT_FOUND",
    ]
    message: str = Field(description="English, for logs and developers")
    user_message: str = Field(description="Text for the screen, in the --locale language")
    retryable: bool
    fields: Optional[list[FieldErrorInfo]] = Field(
        default=None,
        description="Present for VALIDATION_FAILED only",
        exclude_if=lambda value: value is None,
    )


class ErrorData(WireModel):
    """The data member of every JSON-RPC error object."""

    success: Literal[False]
    error: ErrorInfo


class Task(WireModel):
    id: Annotated[int, Field(gt=0)]
    name: str
    status: Literal["draft", "scheduled"]
    audience: Audience
    estimated_audience: Optional[int]
    target_count: int
    stats_total_contacts: int
    message_template: Optional[str]
    scheduled_at: Optional[UtcTime]
    client_request_id: Optional[str]
    created_at: UtcTime
    updated_at: UtcTime


class Success(WireModel):
    success: Literal[True] = True


# --- params --------------------------------------------------------------------


class CreateMarketingTaskParams(WireModel):
    name: Label
    audience: Audience
    estimated_audience: Optional[Annotated[int, Field(ge=0)]] = None
    message_template: Optional[Annotated[str, Field(max_length=4096)]] = None
    scheduled_at: Optional[OffsetDatetime] = None
    client_request_id: Optional[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = None


class EstimateAudienceParams(WireModel):
    audience: Audience


class ContactInput(TypedDict):
    """One contact of upsert-contacts, keyed by its camelCase wire names.

    A TypedDict rather than a model: one call carries up to 10,000 contacts,
    and validated dicts take about a third of the memory of model instances.
    """

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)

    externalId: ExternalId
    displayName: NotRequired[Annotated[str, Field(max_length=200, description='Default ""')]]
    intentScore: NotRequired[Annotated[Percent, Field(description="Default 0")]]
    lastContactedAt: NotRequired[Optional[OffsetDatetime]]
    tags: NotRequired[Optional[Annotated[list[Label], Field(description="Replaces the stored tags when given")]]]
    groups: NotRequired[Optional[Annotated[list[Label], Field(description="Replaces the stored groups when given")]]]


class UpsertContactsParams(WireModel):
    contacts: list[ContactInput] = Field(min_length=1, max_length=MAX_UPSERT_CONTACTS)


class ListMarketingTasksParams(WireModel):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Optional[Annotated[str, Field(max_length=100)]] = None
    status: Optional[Literal["draft", "scheduled"]] = None


class GetMarketingTaskParams(WireModel):
    id: Annotated[int, Field(ge=1)]


class ListEventsParams(WireModel):
    after_seq: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class EmptyParams(WireModel):
    pass


# --- results -------------------------------------------------------------------


class CreateMarketingTaskResult(Success):
    replayed: bool
    task: Task


class AudienceBasis(WireModel):
    base: int
    min_intent_score: int


class EstimateAudienceResult(Success):
    estimated_audience: int = Field(description="The screen's rule of thumb")
    actual_audience: int = Field(description="Contacts the audience resolves to now")
    basis: AudienceBasis


class UpsertContactsResult(Success):
    inserted: int
    updated: int


class ListMarketingTasksResult(Success):
    tasks: list[Task]
    next_cursor: Optional[str]


class GetMarketingTaskResult(Success):
    task: Task


class GetStatusResult(Success):
    state: Literal["ready", "degraded"]
    version: str
    db_path: str
    schema_version: Optional[str]
    applied_migrations: list[str]
    pending_migrations: list[str]
    error: Optional[ErrorInfo]


class Event(WireModel):
    seq: int
    type: Literal["marketing-task-created"]
    payload: dict[str, Any] = Field(description="The notification's params without seq")
    created_at: UtcTime


class ListEventsResult(Success):
    events: list[Event]
    last_seq: int = Field(description="Highest seq stored, 0 when there is none")


class ShutdownResult(Success):
    pass


# --- notifications -------------------------------------------------------------


class MigrationProgressParams(WireModel):
    name: str
    index: Annotated[int, Field(ge=1)]
    total: Annotated[int, Field(ge=1)]


class SidecarReadyParams(WireModel):
    version: str
    db_path: str
    schema_version: str
    migrations_applied: list[str]
    backup_path: Optional[str]
    pid: int


class SidecarDegradedParams(WireModel):
    version: str
    db_path: str
    error: ErrorInfo


class MarketingTaskCreatedParams(WireModel):
    seq: int
    task: Task


METHOD_MODELS: dict[str, tuple[type[WireModel], type[WireModel]]] = {
    "create-marketing-task": (CreateMarketingTaskParams, CreateMarketingTaskResult),
    "estimate-audience": (EstimateAudienceParams, EstimateAudienceResult),
    "upsert-contacts": (UpsertContactsParams, UpsertContactsResult),
    "list-marketing-tasks": (ListMarketingTasksParams, ListMarketingTasksResult),
    "get-marketing-task": (GetMarketingTaskParams, GetMarketingTaskResult),
    "get-status": (EmptyParams, GetStatusResult),
    "list-events": (ListEventsParams, ListEventsResult),
    "shutdown": (EmptyParams, ShutdownResult),
}

NOTIFICATION_MODELS: dict[str, type[WireModel]] = {
    "migration-progress": MigrationProgressParams,
    "sidecar-ready": SidecarReadyParams,
    "sidecar-degraded": SidecarDegradedParams,
    "marketing-task-created": MarketingTaskCreatedParams,
}
