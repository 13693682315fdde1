"""Read back the notifications about data, from the event rows."""

from __future__ import annotations

import json

import peewee

from sidecar.schemas.models import Event, ListEventsParams, ListEventsResult
from sidecar.storage.models import EventRow


def list_events(params: ListEventsParams) -> ListEventsResult:
    rows = (
        EventRow.select()
        .where(EventRow.seq > params.after_seq)
        .order_by(EventRow.seq)
        .limit(params.limit)
    )
    events = [
        Event(seq=row.seq, type=row.type, payload=json.loads(row.payload), created_at=row.created_at)
        for row in rows
    ]
    last_seq = EventRow.select(peewee.fn.MAX(EventRow.seq)).scalar() or 0
    return ListEventsResult(events=events, last_seq=last_seq)
