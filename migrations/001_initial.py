"""Create the marketing tables, or adopt a marketing_tasks table made by hand.

An earlier fix-up advice was to create marketing_tasks by running its SQL by
hand. Such a file has the table in an older shape and no history row; this
migration keeps its rows, normalizes the values that the current protocol
constrains and rebuilds the table in its current definition.
"""

import logging

import peewee as pw
from playhouse.sqlite_ext import AutoIncrementField

logger = logging.getLogger("sidecar.migrations")

# Columns that a hand-made marketing_tasks may lack, with the definition used
# to add them to existing rows.
TASK_COLUMNS_FOR_ADOPTION = {
    "status": "TEXT NOT NULL DEFAULT 'draft'",
    "audience": "TEXT NOT NULL DEFAULT '{\"source\": \"recent\"}'",
    "estimated_audience": "INTEGER",
    "target_count": "INTEGER NOT NULL DEFAULT 0",
    "stats_total_contacts": "INTEGER NOT NULL DEFAULT 0",
    "message_template": "TEXT",
    "scheduled_at": "TEXT",
    "client_request_id": "TEXT",
    "request_fingerprint": "TEXT",
    "created_at": "TEXT NOT NULL DEFAULT ''",
    "updated_at": "TEXT NOT NULL DEFAULT ''",
}

# The current marketing_tasks is built under this name, then renamed.
REBUILT_TASKS_TABLE = "marketing_tasks__adopted"


def define_models(database):
    class Base(pw.Model):
        class Meta:
            legacy_table_names = False

    class Contact(Base):
        id = pw.AutoField()
        external_id = pw.TextField(unique=True)
        display_name = pw.TextField(default="")
        intent_score = pw.IntegerField(default=0)
        last_contacted_at = pw.TextField(null=True)
        created_at = pw.TextField()
        updated_at = pw.TextField()

        class Meta:
            table_name = "marketing_contacts"
            indexes = (
                (("last_contacted_at", "intent_score"), False),
                (("intent_score",), False),
            )

    class ContactTag(Base):
        # index=False: the primary key (contact_id, ...) already leads with it.
        contact = pw.ForeignKeyField(Contact, on_delete="CASCADE", column_name="contact_id", index=False)
        tag = pw.TextField()

        class Meta:
            table_name = "marketing_contact_tags"
            primary_key = pw.CompositeKey("contact", "tag")
            without_rowid = True
            indexes = ((("tag", "contact"), False),)

    class ContactGroup(Base):
        # index=False: the primary key (contact_id, ...) already leads with it.
        contact = pw.ForeignKeyField(Contact, on_delete="CASCADE", column_name="contact_id", index=False)
        group_name = pw.TextField()

        class Meta:
            table_name = "marketing_contact_groups"
            primary_key = pw.CompositeKey("contact", "group_name")
            without_rowid = True
            indexes = ((("group_name", "contact"), False),)

    class Task(Base):
        # AUTOINCREMENT: an id is never handed out twice, even after deletes.
        id = AutoIncrementField()
        name = pw.TextField()
        status = pw.TextField()
        audience = pw.TextField()
        estimated_audience = pw.IntegerField(null=True)
        target_count = pw.IntegerField(default=0)
        stats_total_contacts = pw.IntegerField(default=0)
        message_template = pw.TextField(null=True)
        scheduled_at = pw.TextField(null=True)
        client_request_id = pw.TextField(null=True, unique=True)
        request_fingerprint = pw.TextField(null=True)
        created_at = pw.TextField()
        updated_at = pw.TextField()

        class Meta:
            table_name = "marketing_tasks"
            indexes = ((("status", "id"), False),)

    class TaskTarget(Base):
        # No index beyond the primary key (task_id, contact_id): every write
        # of a create would pay for a contact_id index, which only a contact
        # delete would use, and no method deletes contacts.
        task = pw.ForeignKeyField(Task, on_delete="CASCADE", column_name="task_id", index=False)
        contact = pw.ForeignKeyField(Contact, column_name="contact_id", index=False)

        class Meta:
            table_name = "marketing_task_targets"
            primary_key = pw.CompositeKey("task", "contact")
            without_rowid = True

    class Event(Base):
        seq = AutoIncrementField()
        type = pw.TextField()
        task_id = pw.IntegerField(null=True)
        payload = pw.TextField()
        created_at = pw.TextField()

        class Meta:
            table_name = "marketing_events"

    return [Contact, ContactTag, ContactGroup, Task, TaskTarget, Event]


def adopt_hand_made_tasks_table(database, task_model):
    existing = {column.name for column in database.get_columns("marketing_tasks")}
    added = [name for name in TASK_COLUMNS_FOR_ADOPTION if name not in existing]
    for name in added:
        database.execute_sql(
            f'ALTER TABLE "marketing_tasks" ADD COLUMN "{name}" {TASK_COLUMNS_FOR_ADOPTION[name]}'
        )

    # Hand-written SQL often stored CURRENT_TIMESTAMP text ("2026-12-01 10:00:00");
    # the protocol's times are ISO 8601 UTC with a Z.
    database.execute_sql(
        "UPDATE marketing_tasks SET created_at = "
        "COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', NULLIF(created_at, '')), "
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
    )
    database.execute_sql(
        "UPDATE marketing_tasks SET updated_at = created_at WHERE updated_at = '' OR updated_at IS NULL"
    )
    unknown_status = database.execute_sql(
        "UPDATE marketing_tasks SET status = 'draft' WHERE status IS NULL OR status NOT IN ('draft', 'scheduled')"
    ).rowcount
    database.execute_sql("UPDATE marketing_tasks SET name = '' WHERE name IS NULL")
    # A row without a readable audience would fail the rebuild's NOT NULL or
    # every later read; it gets the audience that the added column defaults to.
    database.execute_sql(
        "UPDATE marketing_tasks SET audience = '{\"source\": \"recent\"}' "
        "WHERE audience IS NULL OR NOT json_valid(audience)"
    )
    database.execute_sql("UPDATE marketing_tasks SET target_count = 0 WHERE target_count IS NULL")
    database.execute_sql(
        "UPDATE marketing_tasks SET stats_total_contacts = target_count "
        "WHERE stats_total_contacts IS NULL"
    )
    kept_columns = rebuild_tasks_table(database, task_model)
    row_count = database.execute_sql("SELECT COUNT(*) FROM marketing_tasks").fetchone()[0]
    logger.warning(
        "adopted hand-made marketing_tasks table",
        extra={
            "event": "migration.adopted_table",
            "table": "marketing_tasks",
            "rows": row_count,
            "columnsAdded": added,
            "columnsKept": kept_columns,
            "statusesSetToDraft": unknown_status,
        },
    )


def rebuild_tasks_table(database, task_model):
    """Recreate marketing_tasks in its current definition and copy every row over.

    ALTER TABLE adds columns but cannot change a type, NOT NULL or
    AUTOINCREMENT, so the table is rebuilt: the new table is built under
    another name, the rows are copied, the old table is dropped and the new
    one renamed. The migration runner switches foreign keys off first, so the
    drop does not cascade to task targets. Columns the current definition
    does not know are carried over with their declared type, so no data is
    lost, but their constraints and defaults are. Returns those columns' names.
    """
    current = [field.column_name for field in task_model._meta.sorted_fields]
    declared = {column.name: column.data_type for column in database.get_columns("marketing_tasks")}
    extra = [name for name in declared if name not in current]

    class RebuiltTask(task_model):
        class Meta:
            table_name = REBUILT_TASKS_TABLE

    RebuiltTask.bind(database)
    # The table only: the indexes are created under their final names once
    # the table has its own name back.
    RebuiltTask._schema.create_table(safe=False)
    for name in extra:
        database.execute_sql(f'ALTER TABLE "{REBUILT_TASKS_TABLE}" ADD COLUMN "{name}" {declared[name]}')

    columns = ", ".join(f'"{name}"' for name in current + extra)
    database.execute_sql(f'INSERT INTO "{REBUILT_TASKS_TABLE}" ({columns}) SELECT {columns} FROM "marketing_tasks"')
    highest_id_issued = _autoincrement_sequence(database, "marketing_tasks")
    database.execute_sql('DROP TABLE "marketing_tasks"')
    database.execute_sql(f'ALTER TABLE "{REBUILT_TASKS_TABLE}" RENAME TO "marketing_tasks"')

    # A hand-made AUTOINCREMENT table may have issued ids above the highest
    # row left, and they must not be issued again.
    if highest_id_issued:
        _raise_autoincrement_sequence(database, "marketing_tasks", highest_id_issued)
    return extra


def _raise_autoincrement_sequence(database, table, at_least):
    # sqlite_sequence has a row for a table only once a row was inserted.
    updated = database.execute_sql(
        "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (at_least, table)
    ).rowcount
    if updated == 0:
        database.execute_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, at_least))


def _autoincrement_sequence(database, table):
    if not database.table_exists("sqlite_sequence"):
        return None
    row = database.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return row[0] if row else None


def migrate(migrator, database, fake=False, **kwargs):
    models = define_models(database)
    hand_made_tasks = not fake and database.table_exists("marketing_tasks")
    if hand_made_tasks:
        task_model = next(model for model in models if model._meta.table_name == "marketing_tasks")
        migrator.run(adopt_hand_made_tasks_table, database, task_model)

    # create_table is IF NOT EXISTS, so the adopted table is left as it is,
    # while its indexes (the unique client_request_id one included) and the
    # other tables are created.
    for model in models:
        migrator.create_model(model)


def rollback(migrator, database, fake=False, **kwargs):
    for table in (
        "marketing_events",
        "marketing_task_targets",
        "marketing_tasks",
        "marketing_contact_groups",
        "marketing_contact_tags",
        "marketing_contacts",
    ):
        migrator.remove_model(table)
