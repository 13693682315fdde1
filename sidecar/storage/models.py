"""peewee models of the sidecar's tables, bound to the served database at boot.

The tables themselves are created by the migrations; these models only read
and write them. Times are stored as fixed-width UTC text (see timefmt). The
task hot paths use the fixed SQL in task_queries instead.
"""

from __future__ import annotations

import peewee

database_proxy = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


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
