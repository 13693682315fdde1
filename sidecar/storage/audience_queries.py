"""SQL that resolves an audience to contact ids.

Every list parameter travels as one JSON text read with json_each, so a
manual audience of 100,000 ids is one bound value, not 100,000 placeholders.
The indexes created by the first migration cover each filter: tag and group
lookups go through (tag, contact_id) and (group_name, contact_id), the recent
filter through (last_contacted_at, intent_score).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sidecar.storage.timefmt import to_utc_text

_BY_SOURCE = {
    "recent": (
        "SELECT id FROM marketing_contacts "
        "WHERE last_contacted_at >= ? AND last_contacted_at <= ? AND intent_score >= ?"
    ),
    "tag": (
        "SELECT id FROM marketing_contacts WHERE intent_score >= ? AND id IN "
        "(SELECT contact_id FROM marketing_contact_tags WHERE tag IN (SELECT value FROM json_each(?)))"
    ),
    "group": (
        "SELECT id FROM marketing_contacts WHERE intent_score >= ? AND id IN "
        "(SELECT contact_id FROM marketing_contact_groups WHERE group_name IN (SELECT value FROM json_each(?)))"
    ),
    "manual": (
        "SELECT id FROM marketing_contacts "
        "WHERE external_id IN (SELECT value FROM json_each(?)) AND intent_score >= ?"
    ),
}


def audience_contacts_sql(audience: Any) -> tuple[str, list[Any]]:
    """Return a SELECT of the ids of the contacts the audience resolves to, and its parameters."""
    source = audience.source
    if source == "recent":
        # A last contact in the future is not within the past recentDays days.
        now = datetime.now(timezone.utc)
        params: list[Any] = [
            to_utc_text(now - timedelta(days=audience.recent_days)),
            to_utc_text(now),
            audience.min_intent_score,
        ]
    elif source == "tag":
        params = [audience.min_intent_score, json.dumps(audience.tags)]
    elif source == "group":
        params = [audience.min_intent_score, json.dumps(audience.groups)]
    else:
        params = [json.dumps(audience.contact_ids), audience.min_intent_score]
    return _BY_SOURCE[source], params
