"""Insert or update contacts by externalId, all or nothing per call."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Callable

import peewee

from sidecar.schemas.models import ContactInput, UpsertContactsParams, UpsertContactsResult
from sidecar.storage.timefmt import to_utc_text

# ?6, ?7 and ?8 are true when displayName, intentScore and lastContactedAt
# were given. An update keeps the stored value of a field the call left out,
# and an insert takes the default.
_UPSERT_CONTACT = (
    "INSERT INTO marketing_contacts "
    "(external_id, display_name, intent_score, last_contacted_at, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
    "ON CONFLICT (external_id) DO UPDATE SET "
    "display_name = CASE WHEN ?6 THEN excluded.display_name ELSE display_name END, "
    "intent_score = CASE WHEN ?7 THEN excluded.intent_score ELSE intent_score END, "
    "last_contacted_at = CASE WHEN ?8 THEN excluded.last_contacted_at ELSE last_contacted_at END, "
    "updated_at = excluded.updated_at"
)
_IDS_BY_EXTERNAL_ID = (
    "SELECT external_id, id FROM marketing_contacts WHERE external_id IN (SELECT value FROM json_each(?))"
)


def upsert_contacts(
    database: peewee.SqliteDatabase, params: UpsertContactsParams, now: Callable[[], str]
) -> UpsertContactsResult:
    contacts = merge_by_external_id(params.contacts)
    external_ids_json = json.dumps(list(contacts))
    timestamp = now()

    with database.atomic():
        connection = database.connection()
        existing = dict(connection.execute(_IDS_BY_EXTERNAL_ID, (external_ids_json,)).fetchall())

        connection.executemany(
            _UPSERT_CONTACT,
            [
                (
                    external_id,
                    contact.get("displayName", ""),
                    contact.get("intentScore", 0),
                    _utc_text_or_none(contact.get("lastContactedAt")),
                    timestamp,
                    "displayName" in contact,
                    "intentScore" in contact,
                    "lastContactedAt" in contact,
                )
                for external_id, contact in contacts.items()
            ],
        )

        ids = dict(connection.execute(_IDS_BY_EXTERNAL_ID, (external_ids_json,)).fetchall())
        _replace_labels(connection, "marketing_contact_tags", "tag", ids, {key: contact.get("tags") for key, contact in contacts.items()})
        _replace_labels(connection, "marketing_contact_groups", "group_name", ids, {key: contact.get("groups") for key, contact in contacts.items()})

    return UpsertContactsResult(inserted=len(contacts) - len(existing), updated=len(existing))


def merge_by_external_id(items: list[ContactInput]) -> dict[str, ContactInput]:
    """Fold items with the same externalId into one, as if they were upserted in order.

    A later item's fields replace an earlier one's; fields it leaves out keep
    the earlier item's values.
    """
    merged: dict[str, ContactInput] = {}
    for item in items:
        earlier = merged.get(item["externalId"])
        merged[item["externalId"]] = item if earlier is None else {**earlier, **item}
    return merged


def _utc_text_or_none(moment: datetime | None) -> str | None:
    return to_utc_text(moment) if moment is not None else None


def _replace_labels(connection, table: str, column: str, ids: dict[str, int], labels: dict[str, list[str] | None]) -> None:
    """Replace the stored labels of each contact whose list was given; keep the others."""
    labels_by_contact_id = {ids[external_id]: values for external_id, values in labels.items() if values is not None}
    if not labels_by_contact_id:
        return

    connection.execute(
        f"DELETE FROM {table} WHERE contact_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(labels_by_contact_id)),),
    )
    connection.executemany(
        f"INSERT OR IGNORE INTO {table} (contact_id, {column}) VALUES (?, ?)",
        [(contact_id, value) for contact_id, values in labels_by_contact_id.items() for value in values],
    )
