"""SQL of the task hot paths, written out once.

peewee's query builder costs about a millisecond per create when it renders
five statements, more than the statements themselves, so the create, get and
list paths run these fixed statements through the same peewee connection.
"""

from __future__ import annotations

import json
from typing import Any

TASK_COLUMNS = (
    "id, name, status, audience, estimated_audience, target_count, stats_total_contacts, "
    "message_template, scheduled_at, client_request_id, created_at, updated_at"
)

INSERT_TASK = (
    "INSERT INTO marketing_tasks (name, status, audience, estimated_audience, target_count, "
    "stats_total_contacts, message_template, scheduled_at, client_request_id, request_fingerprint, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)"
)
SET_TARGET_COUNT = "UPDATE marketing_tasks SET target_count = ?, stats_total_contacts = ? WHERE id = ?"
INSERT_TARGETS = "INSERT INTO marketing_task_targets (task_id, contact_id) SELECT ?, id FROM ({audience_sql})"
INSERT_EVENT = "INSERT INTO marketing_events (type, task_id, payload, created_at) VALUES (?, ?, ?, ?)"

SELECT_BY_ID = f"SELECT {TASK_COLUMNS} FROM marketing_tasks WHERE id = ?"
SELECT_BY_CLIENT_REQUEST_ID = f"SELECT {TASK_COLUMNS}, request_fingerprint FROM marketing_tasks WHERE client_request_id = ?"

# Keyset pages: "id < cursor" walks the primary key (or the (status, id)
# index) from the cursor on, so page 190 costs what page 1 costs.
LIST_PAGE = {
    (False, False): f"SELECT {TASK_COLUMNS} FROM marketing_tasks ORDER BY id DESC LIMIT ?",
    (True, False): f"SELECT {TASK_COLUMNS} FROM marketing_tasks WHERE id < ? ORDER BY id DESC LIMIT ?",
    (False, True): f"SELECT {TASK_COLUMNS} FROM marketing_tasks WHERE status = ? ORDER BY id DESC LIMIT ?",
    (True, True): f"SELECT {TASK_COLUMNS} FROM marketing_tasks WHERE id < ? AND status = ? ORDER BY id DESC LIMIT ?",
}

# Audience JSON is stored complete, but rows adopted from a hand-made table
# may hold less; these fill what is missing.
AUDIENCE_DEFAULTS = {"tags": [], "groups": [], "contactIds": [], "minIntentScore": 0, "recentDays": 30}


def _complete_audience(audience: dict[str, Any]) -> dict[str, Any]:
    if len(audience) < len(AUDIENCE_DEFAULTS) + 1:
        for key, value in AUDIENCE_DEFAULTS.items():
            audience.setdefault(key, list(value) if isinstance(value, list) else value)
    return audience


def task_from_row(row: tuple) -> dict[str, Any]:
    """Build the wire Task from a row of TASK_COLUMNS.

    NOTE: the audience is returned whole, so a manual audience of 100,000
    contactIds adds about 1.2 MB to every response or event that carries its
    task, and a list page of many such tasks grows to tens of MB.
    """
    return {
        "id": row[0],
        "name": row[1],
        "status": row[2],
        "audience": _complete_audience(json.loads(row[3])),
        "estimatedAudience": row[4],
        "targetCount": row[5],
        "statsTotalContacts": row[6],
        "messageTemplate": row[7],
        "scheduledAt": row[8],
        "clientRequestId": row[9],
        "createdAt": row[10],
        "updatedAt": row[11],
    }
