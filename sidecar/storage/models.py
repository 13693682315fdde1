"""peewee models of the sidecar's tables, bound to the served database at boot.

The tables themselves are created by the migrations; these models only read
and write them. Times are stored as fixed-width UTC text (see timefmt).
"""

from __future__ import annotations

import peewee

database_proxy = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class TaskRow(BaseModel):
    id = peewee.AutoField()
    name = peewee.TextField()
    status = peewee.TextField()
    audience = peewee.TextField()
    estimated_audience = peewee.IntegerField(null=True)
    target_count = peewee.IntegerField(default=0)
    stats_total_contacts = peewee.IntegerField(default=0)
    message_template = peewee.TextField(null=True)
    scheduled_at = peewee.TextField(null=True)
    client_request_id = peewee.TextField(null=True)
    request_fingerprint = peewee.TextField(null=True)
    created_at = peewee.TextField()
    updated_at = peewee.TextField()

    class Meta:
        table_name = "marketing_tasks"


class EventRow(BaseModel):
    seq = peewee.AutoField()
    type = peewee.TextField()
    task_id = peewee.IntegerField(null=True)
    payload = peewee.TextField()
    created_at = peewee.TextField()

    class Meta:
        table_name = "marketing_events"


def bind_models(database: peewee.Database) -> None:
    database_proxy.initialize(database)
