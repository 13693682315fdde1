"""Read back the notifications about data, from the event rows."""

from __future__ import annotations

import json

import peewee

from sidecar.schemas.models import Event, ListEventsParams, ListEventsResult

_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM marketing_events"
_PAGE = (
    "SELECT seq, type, payload, created_at FROM marketing_events "
    "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)


def list_events(database: peewee.SqliteDatabase, params: ListEventsParams) -> ListEventsResult:
    """Return the events after params.after_seq in seq order, at most params.limit of them.

    seq is an AUTOINCREMENT key assigned inside the transaction that stores
    the data. Writers take SQLite's write lock one at a time, so seq order is
    commit order, and AUTOINCREMENT never reuses a seq. An event therefore
    never appears behind a seq that a client has already read.

    lastSeq is the highest seq stored when the call began (0 for none). Every
    returned event has seq <= lastSeq, because the page is read up to that
    value even when another process commits meanwhile. To read everything:
    pass afterSeq 0, then the seq of the last event received, until a page
    ends at lastSeq. lastSeq is not the next afterSeq when a page was cut by
    limit; passing it would skip the events in between. An afterSeq above
    lastSeq means that the file is not the one the client read before, because
    it was replaced or restored from a backup. The client should then start
    again from 0.
    """
    last_seq = database.execute_sql(_LAST_SEQ).fetchone()[0]
    rows = database.execute_sql(_PAGE, (params.after_seq, last_seq, params.limit)).fetchall()
    events = [
        Event(seq=seq, type=event_type, payload=json.loads(payload), created_at=created_at)
        for seq, event_type, payload, created_at in rows
    ]
    return ListEventsResult(events=events, last_seq=last_seq)
