"""Upsert semantics and time handling, over the pipes."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest


def estimate(sidecar, audience: dict) -> int:
    return sidecar.call("estimate-audience", {"audience": audience})["actualAudience"]


def test_duplicate_ids_in_one_upsert_apply_in_order(sidecar):
    result = sidecar.call(
        "upsert-contacts",
        {"contacts": [{"externalId": "d", "tags": ["x"], "intentScore": 10}, {"externalId": "d", "displayName": "D"}]},
    )

    assert (result["inserted"], result["updated"]) == (1, 0)
    assert estimate(sidecar, {"source": "tag", "tags": ["x"]}) == 1
    assert estimate(sidecar, {"source": "tag", "tags": ["x"], "minIntentScore": 10}) == 1


def test_partial_upsert_keeps_fields_left_out(sidecar, db_path):
    sidecar.call(
        "upsert-contacts",
        {"contacts": [{"externalId": "e", "displayName": "王小明", "intentScore": 90, "lastContactedAt": "2026-12-01T08:00:00+08:00"}]},
    )
    sidecar.call("upsert-contacts", {"contacts": [{"externalId": "e", "groups": ["g"]}]})

    connection = sqlite3.connect(db_path)
    row = connection.execute(
        "SELECT display_name, intent_score, last_contacted_at FROM marketing_contacts WHERE external_id = 'e'"
    ).fetchone()
    connection.close()
    assert row == ("王小明", 90, "2026-12-01T00:00:00.000Z")

    sidecar.call("upsert-contacts", {"contacts": [{"externalId": "e", "lastContactedAt": None}]})
    connection = sqlite3.connect(db_path)
    cleared = connection.execute("SELECT last_contacted_at FROM marketing_contacts WHERE external_id = 'e'").fetchone()
    connection.close()
    assert cleared == (None,)


def test_recent_excludes_ancient_and_future_contacts(sidecar):
    now = datetime.now(timezone.utc)
    sidecar.call(
        "upsert-contacts",
        {
            "contacts": [
                {"externalId": "ancient", "lastContactedAt": "0999-12-31T00:00:00Z"},
                {"externalId": "future", "lastContactedAt": "9999-12-31T00:00:00Z"},
                {"externalId": "yesterday", "lastContactedAt": (now - timedelta(days=1)).isoformat()},
                {"externalId": "old", "lastContactedAt": (now - timedelta(days=40)).isoformat()},
            ]
        },
    )

    assert estimate(sidecar, {"source": "recent", "recentDays": 2}) == 1
    assert estimate(sidecar, {"source": "recent", "recentDays": 365}) == 2


def test_early_years_are_zero_padded(sidecar):
    task = sidecar.call(
        "create-marketing-task",
        {"name": "早", "audience": {"source": "recent"}, "scheduledAt": "0999-01-01T00:00:00+00:00"},
    )["task"]
    assert task["scheduledAt"] == "0999-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scheduledAt", "0"),
        ("scheduledAt", "1700000000.5"),
        ("scheduledAt", "0001-01-01T00:00:00+14:00"),
        ("scheduledAt", "2026-12-05T09:00:00"),
        ("lastContactedAt", "9999-12-31T23:00:00-12:00"),
        ("lastContactedAt", "0001-01-01T00:00:00+14:00"),
        ("lastContactedAt", "0"),
    ],
)
def test_bad_times_are_validation_errors(sidecar, field, value):
    if field == "scheduledAt":
        error = sidecar.call_error("create-marketing-task", {"name": "t", "audience": {"source": "recent"}, field: value})
        expected_path = field
    else:
        error = sidecar.call_error("upsert-contacts", {"contacts": [{"externalId": "x", field: value}]})
        expected_path = f"contacts.0.{field}"

    assert error["code"] == "VALIDATION_FAILED"
    assert [f["path"] for f in error["fields"]] == [expected_path]
