"""The incident end to end: a host app's database without marketing tables."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from host_app_db import create_host_app_database, dump_host_tables


def recent_contacts(count: int) -> list[dict]:
    """Contacts with intent scores 0..99 spread evenly; half contacted in the last 30 days."""
    now = datetime.now(timezone.utc)
    contacts = []
    for index in range(count):
        days_ago = 3 if index % 2 == 0 else 90
        contacts.append(
            {
                "externalId": f"tg:{10000 + index}",
                "displayName": f"聯絡人 {index}",
                "intentScore": index % 100,
                "lastContactedAt": (now - timedelta(days=days_ago)).isoformat(),
                "tags": ["vip"] if index % 5 == 0 else [],
                "groups": ["台北"] if index % 3 == 0 else [],
            }
        )
    return contacts


def expected_recent_count(contacts: list[dict], min_score: int) -> int:
    return sum(1 for index, contact in enumerate(contacts) if index % 2 == 0 and contact["intentScore"] >= min_score)


def test_create_task_on_host_app_database(spawn, db_path):
    create_host_app_database(db_path)
    host_before = dump_host_tables(db_path)
    contacts = recent_contacts(200)

    sidecar = spawn(db_path)
    ready = sidecar.wait_ready()
    assert ready["migrationsApplied"] == ["001_initial"]
    assert ready["dbPath"] == str(db_path)
    assert ready["backupPath"] is not None, "a file holding data is backed up before migrating"

    upserted = sidecar.call("upsert-contacts", {"contacts": contacts})
    assert (upserted["inserted"], upserted["updated"]) == (200, 0)

    audience = {"source": "recent", "minIntentScore": 33}
    estimate = sidecar.call("estimate-audience", {"audience": audience})
    real_count = expected_recent_count(contacts, 33)
    assert estimate["estimatedAudience"] == 110
    assert estimate["actualAudience"] == real_count
    assert real_count != 110

    response, before = sidecar.request(
        "create-marketing-task", {"name": "测试001", "audience": audience, "estimatedAudience": 110}
    )
    assert before == []
    task = response["result"]["task"]
    assert response["result"]["success"] is True
    assert response["result"]["replayed"] is False
    assert task["id"] > 0
    assert task["targetCount"] == real_count
    assert task["statsTotalContacts"] == real_count
    assert task["estimatedAudience"] == 110
    assert task["status"] == "draft"

    notification = sidecar.read_message()
    assert notification["method"] == "marketing-task-created"
    assert notification["params"]["task"] == task

    listed = sidecar.call("list-marketing-tasks", {})
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]

    sidecar.call("shutdown", {})
    assert sidecar.wait_exit() == 0

    connection = sqlite3.connect(db_path)
    try:
        row = connection.execute(
            "SELECT name, target_count, stats_total_contacts, estimated_audience FROM marketing_tasks WHERE id = ?",
            (task["id"],),
        ).fetchone()
        targets = connection.execute(
            "SELECT COUNT(*) FROM marketing_task_targets WHERE task_id = ?", (task["id"],)
        ).fetchone()[0]
        events = connection.execute("SELECT COUNT(*) FROM marketing_events WHERE task_id = ?", (task["id"],)).fetchone()[0]
    finally:
        connection.close()
    assert row == ("测试001", real_count, real_count, 110)
    assert targets == real_count
    assert events == 1
    assert dump_host_tables(db_path) == host_before


def test_estimate_rule_of_thumb_per_source(sidecar):
    sidecar.call("upsert-contacts", {"contacts": recent_contacts(20)})
    cases = [
        ({"source": "recent", "minIntentScore": 33}, 110, 150),
        ({"source": "tag", "tags": ["vip"]}, 90, 80),
        ({"source": "group", "groups": ["台北"], "minIntentScore": 50}, 110, 200),
        ({"source": "manual", "contactIds": ["tg:10000", "tg:10001", "tg:10000", "tg:missing"]}, 3, 3),
    ]
    for audience, estimated, base in cases:
        result = sidecar.call("estimate-audience", {"audience": audience})
        assert result["estimatedAudience"] == estimated, audience
        assert result["basis"]["base"] == base, audience


def test_audience_sources_resolve_real_contacts(sidecar):
    contacts = recent_contacts(30)
    sidecar.call("upsert-contacts", {"contacts": contacts})
    cases = [
        ({"source": "recent", "recentDays": 30}, 15),
        ({"source": "recent", "recentDays": 365}, 30),
        ({"source": "tag", "tags": ["vip", "absent"]}, 6),
        ({"source": "tag", "tags": ["vip"], "minIntentScore": 10}, 4),
        ({"source": "group", "groups": ["台北"]}, 10),
        ({"source": "manual", "contactIds": ["tg:10001", "tg:10002", "tg:nobody"]}, 2),
        ({"source": "manual", "contactIds": ["tg:10001", "tg:10002"], "minIntentScore": 2}, 1),
    ]
    for audience, expected in cases:
        task = sidecar.call("create-marketing-task", {"name": "audience", "audience": audience})["task"]
        assert task["targetCount"] == expected, audience
        sidecar.read_message()


def test_upsert_replaces_given_labels_only(sidecar):
    sidecar.call("upsert-contacts", {"contacts": [{"externalId": "a", "tags": ["x"], "groups": ["g"]}]})
    updated = sidecar.call("upsert-contacts", {"contacts": [{"externalId": "a", "tags": ["y"]}]})
    assert (updated["inserted"], updated["updated"]) == (0, 1)

    by_tag_x = sidecar.call("estimate-audience", {"audience": {"source": "tag", "tags": ["x"]}})
    by_tag_y = sidecar.call("estimate-audience", {"audience": {"source": "tag", "tags": ["y"]}})
    by_group = sidecar.call("estimate-audience", {"audience": {"source": "group", "groups": ["g"]}})
    assert by_tag_x["actualAudience"] == 0
    assert by_tag_y["actualAudience"] == 1
    assert by_group["actualAudience"] == 1


def test_scheduled_task_and_paging(sidecar):
    created = sidecar.call(
        "create-marketing-task",
        {"name": "排程", "audience": {"source": "recent"}, "scheduledAt": "2026-12-05T09:00:00+08:00"},
    )["task"]
    sidecar.read_message()
    assert created["status"] == "scheduled"
    assert created["scheduledAt"] == "2026-12-05T01:00:00.000Z"

    for index in range(4):
        sidecar.call("create-marketing-task", {"name": f"t{index}", "audience": {"source": "recent"}})
        sidecar.read_message()

    seen = []
    cursor = None
    while True:
        page = sidecar.call("list-marketing-tasks", {"limit": 2, "cursor": cursor})
        seen += [task["id"] for task in page["tasks"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 5

    scheduled = sidecar.call("list-marketing-tasks", {"status": "scheduled"})
    assert [task["id"] for task in scheduled["tasks"]] == [created["id"]]
    assert sidecar.call("get-marketing-task", {"id": created["id"]})["task"] == created
