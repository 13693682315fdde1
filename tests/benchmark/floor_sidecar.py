"""Minimal marketing sidecar that sets the floor for the benchmark.

It speaks the NDJSON subset of the sidecar protocol that run.py uses. It
creates the marketing_ schema below and sets the real sidecar's pragmas (WAL,
foreign keys, synchronous=FULL, a 5 s busy timeout), but it has no
validation, no migration runner, no logging and no ErrorInfo in its errors.
Its timings show what Python, sqlite3 and the pipes cost on their own, so
run.py reports the real sidecar's figures as ratios to these.

Usage: python floor_sidecar.py --db PATH

It imports the standard library only, and not even argparse or datetime,
because on Python 3.11 those two add about 4 ms (python -X importtime) to a
boot of about 40 ms.
"""

import json
import os
import sqlite3
import sys
import time

VERSION = "0.0.0-floor"
SCHEMA_VERSION = "floor-schema"

SCHEMA = """
CREATE TABLE IF NOT EXISTS marketing_contacts (id INTEGER PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL DEFAULT '', intent_score INTEGER NOT NULL DEFAULT 0, last_contacted_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS marketing_contacts_recent ON marketing_contacts (last_contacted_at, intent_score);
CREATE INDEX IF NOT EXISTS marketing_contacts_intent ON marketing_contacts (intent_score);
CREATE TABLE IF NOT EXISTS marketing_contact_tags (contact_id INTEGER NOT NULL REFERENCES marketing_contacts (id) ON DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY (contact_id, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS marketing_contact_tags_tag ON marketing_contact_tags (tag, contact_id);
CREATE TABLE IF NOT EXISTS marketing_contact_groups (contact_id INTEGER NOT NULL REFERENCES marketing_contacts (id) ON DELETE CASCADE, group_name TEXT NOT NULL, PRIMARY KEY (contact_id, group_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS marketing_contact_groups_group ON marketing_contact_groups (group_name, contact_id);
CREATE TABLE IF NOT EXISTS marketing_tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, status TEXT NOT NULL, audience TEXT NOT NULL, estimated_audience INTEGER, target_count INTEGER NOT NULL DEFAULT 0, stats_total_contacts INTEGER NOT NULL DEFAULT 0, message_template TEXT, scheduled_at TEXT, client_request_id TEXT UNIQUE, request_fingerprint TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS marketing_tasks_status ON marketing_tasks (status, id);
CREATE TABLE IF NOT EXISTS marketing_task_targets (task_id INTEGER NOT NULL REFERENCES marketing_tasks (id) ON DELETE CASCADE, contact_id INTEGER NOT NULL REFERENCES marketing_contacts (id), PRIMARY KEY (task_id, contact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS marketing_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, task_id INTEGER, payload TEXT NOT NULL, created_at TEXT NOT NULL);
"""

TASK_COLUMNS = (
    "id, name, status, audience, estimated_audience, target_count,"
    " stats_total_contacts, message_template, scheduled_at, client_request_id,"
    " created_at, updated_at"
)

# Base of the screen's audience estimate for each source. For a manual
# audience the estimate is the number of distinct ids instead.
ESTIMATE_BASES = {"recent": 150, "tag": 80, "group": 200}

# The tag and group filters select ids through the (name, contact_id) index.
# A correlated EXISTS would select the same contacts, but SQLite 3.40.1 plans
# it as a subquery run once per contact (EXPLAIN QUERY PLAN), which turns a
# 100-contact audience into a scan of every contact.
AUDIENCE_FILTERS = {
    "tag": (
        "c.id IN (SELECT t.contact_id FROM marketing_contact_tags AS t"
        " WHERE t.tag IN (SELECT value FROM json_each(?)))"
    ),
    "group": (
        "c.id IN (SELECT g.contact_id FROM marketing_contact_groups AS g"
        " WHERE g.group_name IN (SELECT value FROM json_each(?)))"
    ),
    "manual": "c.external_id IN (SELECT value FROM json_each(?))",
    # A last contact in the future is not recent; the real sidecar bounds both ends too.
    "recent": "c.last_contacted_at >= ? AND c.last_contacted_at <= ?",
}


def format_utc(seconds):
    """Format epoch seconds as fixed-width UTC text, which sorts in time order."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%03dZ" % millis


def open_database(path):
    """Open the database and create any missing table.

    Returns the connection and the names of the schema steps applied now, an
    empty list when the tables already existed.
    """
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")

    found = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'marketing_tasks'"
    ).fetchone()[0]
    db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
    return db, ([] if found else [SCHEMA_VERSION])


def audience_condition(audience):
    """Return the SQL condition on contacts `c` and its arguments for an audience."""
    source = audience["source"]
    if source == "recent":
        now = time.time()
        since = format_utc(now - audience.get("recentDays", 30) * 86400)
        return AUDIENCE_FILTERS[source] + " AND c.intent_score >= ?", (since, format_utc(now), audience.get("minIntentScore", 0))
    if source == "tag":
        argument = json.dumps(audience["tags"])
    elif source == "group":
        argument = json.dumps(audience["groups"])
    else:
        argument = json.dumps(audience["contactIds"])
    condition = AUDIENCE_FILTERS[source] + " AND c.intent_score >= ?"
    return condition, (argument, audience.get("minIntentScore", 0))


def task_from_row(row):
    return {
        "id": row[0],
        "name": row[1],
        "status": row[2],
        "audience": json.loads(row[3]),
        "estimatedAudience": row[4],
        "targetCount": row[5],
        "statsTotalContacts": row[6],
        "messageTemplate": row[7],
        "scheduledAt": row[8],
        "clientRequestId": row[9],
        "createdAt": row[10],
        "updatedAt": row[11],
    }


def create_marketing_task(db, params):
    """Insert the task, its targets and its event in one transaction.

    Returns the result and the notification to write after it.
    """
    audience = params["audience"]
    condition, arguments = audience_condition(audience)
    now = format_utc(time.time())
    scheduled_at = params.get("scheduledAt")
    task = {
        "id": None,
        "name": params["name"],
        "status": "scheduled" if scheduled_at else "draft",
        "audience": audience,
        "estimatedAudience": params.get("estimatedAudience"),
        "targetCount": 0,
        "statsTotalContacts": 0,
        "messageTemplate": params.get("messageTemplate"),
        "scheduledAt": scheduled_at,
        "clientRequestId": params.get("clientRequestId"),
        "createdAt": now,
        "updatedAt": now,
    }

    db.execute("BEGIN IMMEDIATE")
    try:
        task["id"] = db.execute(
            "INSERT INTO marketing_tasks (name, status, audience, estimated_audience,"
            " message_template, scheduled_at, client_request_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task["name"],
                task["status"],
                json.dumps(audience, ensure_ascii=False),
                task["estimatedAudience"],
                task["messageTemplate"],
                scheduled_at,
                task["clientRequestId"],
                now,
                now,
            ),
        ).lastrowid
        target_count = db.execute(
            "INSERT INTO marketing_task_targets (task_id, contact_id)"
            " SELECT ?, c.id FROM marketing_contacts AS c WHERE " + condition,
            (task["id"],) + arguments,
        ).rowcount
        db.execute(
            "UPDATE marketing_tasks SET target_count = ?, stats_total_contacts = ? WHERE id = ?",
            (target_count, target_count, task["id"]),
        )
        task["targetCount"] = target_count
        task["statsTotalContacts"] = target_count
        seq = db.execute(
            "INSERT INTO marketing_events (type, task_id, payload, created_at)"
            " VALUES ('marketing-task-created', ?, ?, ?)",
            (task["id"], json.dumps({"task": task}, ensure_ascii=False), now),
        ).lastrowid
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise

    result = {"success": True, "replayed": False, "task": task}
    notification = {"method": "marketing-task-created", "params": {"seq": seq, "task": task}}
    return result, notification


def replace_labels(db, table, column, contacts, field, ids):
    """Replace the tags or groups of each contact that carries `field`."""
    carriers = [contact for contact in contacts if field in contact]
    contact_ids = json.dumps([ids[contact["externalId"]] for contact in carriers])
    db.execute(
        "DELETE FROM " + table + " WHERE contact_id IN (SELECT value FROM json_each(?))",
        (contact_ids,),
    )
    db.executemany(
        "INSERT OR IGNORE INTO " + table + " (contact_id, " + column + ") VALUES (?, ?)",
        [(ids[contact["externalId"]], label) for contact in carriers for label in contact[field]],
    )


def upsert_contacts(db, params):
    contacts = params["contacts"]
    now = format_utc(time.time())
    external_ids = json.dumps([contact["externalId"] for contact in contacts])
    rows = [
        (
            contact["externalId"],
            contact.get("displayName", ""),
            contact.get("intentScore", 0),
            contact.get("lastContactedAt"),
            now,
            now,
        )
        for contact in contacts
    ]

    db.execute("BEGIN IMMEDIATE")
    try:
        existing = db.execute(
            "SELECT count(*) FROM marketing_contacts"
            " WHERE external_id IN (SELECT value FROM json_each(?))",
            (external_ids,),
        ).fetchone()[0]
        db.executemany(
            "INSERT INTO marketing_contacts (external_id, display_name, intent_score,"
            " last_contacted_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (external_id) DO UPDATE SET display_name = excluded.display_name,"
            " intent_score = excluded.intent_score,"
            " last_contacted_at = excluded.last_contacted_at, updated_at = excluded.updated_at",
            rows,
        )
        ids = dict(
            db.execute(
                "SELECT external_id, id FROM marketing_contacts"
                " WHERE external_id IN (SELECT value FROM json_each(?))",
                (external_ids,),
            )
        )
        replace_labels(db, "marketing_contact_tags", "tag", contacts, "tags", ids)
        replace_labels(db, "marketing_contact_groups", "group_name", contacts, "groups", ids)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise

    inserted = len(ids) - existing
    return {"success": True, "inserted": inserted, "updated": len(contacts) - inserted}, None


def estimate_audience(db, params):
    audience = params["audience"]
    condition, arguments = audience_condition(audience)
    actual = db.execute(
        "SELECT count(*) FROM marketing_contacts AS c WHERE " + condition, arguments
    ).fetchone()[0]
    min_intent_score = audience.get("minIntentScore", 0)
    if audience["source"] == "manual":
        base = len(set(audience["contactIds"]))
        estimated = base
    else:
        base = ESTIMATE_BASES[audience["source"]]
        estimated = base * (100 - min_intent_score) // 100 + 10
    result = {
        "success": True,
        "estimatedAudience": estimated,
        "actualAudience": actual,
        "basis": {"base": base, "minIntentScore": min_intent_score},
    }
    return result, None


def list_marketing_tasks(db, params):
    """Return one page of tasks, newest first. The cursor is the last id served."""
    limit = params.get("limit", 50)
    conditions = []
    arguments = []
    if params.get("cursor") is not None:
        conditions.append("id < ?")
        arguments.append(int(params["cursor"]))
    if params.get("status") is not None:
        conditions.append("status = ?")
        arguments.append(params["status"])
    where = " WHERE " + " AND ".join(conditions) if conditions else ""

    # One row past the page shows whether another page exists.
    rows = db.execute(
        "SELECT " + TASK_COLUMNS + " FROM marketing_tasks" + where + " ORDER BY id DESC LIMIT ?",
        arguments + [limit + 1],
    ).fetchall()
    tasks = [task_from_row(row) for row in rows[:limit]]
    next_cursor = str(tasks[-1]["id"]) if len(rows) > limit else None
    return {"success": True, "tasks": tasks, "nextCursor": next_cursor}, None


def shutdown(db, params):
    return {"success": True}, None


METHODS = {
    "create-marketing-task": create_marketing_task,
    "upsert-contacts": upsert_contacts,
    "estimate-audience": estimate_audience,
    "list-marketing-tasks": list_marketing_tasks,
    "shutdown": shutdown,
}


def write_message(out, message):
    message = {"jsonrpc": "2.0", **message}
    out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    out.write(b"\n")
    out.flush()


def handle_line(db, out, line):
    """Serve one request line and return False once the sidecar should stop."""
    try:
        request = json.loads(line)
    except ValueError:
        write_message(out, {"id": None, "error": {"code": -32700, "message": "Parse error"}})
        return True

    request_id = request.get("id")
    method = request.get("method")
    handler = METHODS.get(method)
    if handler is None:
        error = {"code": -32601, "message": "Method not found: %s" % method}
        write_message(out, {"id": request_id, "error": error})
        return True

    try:
        result, notification = handler(db, request.get("params") or {})
    except Exception as exc:
        error = {"code": -32603, "message": "%s: %s" % (type(exc).__name__, exc)}
        write_message(out, {"id": request_id, "error": error})
        return True

    write_message(out, {"id": request_id, "result": result})
    if notification is not None:
        write_message(out, notification)
    return method != "shutdown"


def main(argv):
    if len(argv) < 2 or argv[0] != "--db":
        sys.stderr.write("usage: python floor_sidecar.py --db PATH\n")
        return 2
    db_path = os.path.abspath(argv[1])
    db, applied = open_database(db_path)
    out = sys.stdout.buffer
    ready = {
        "version": VERSION,
        "dbPath": db_path,
        "schemaVersion": SCHEMA_VERSION,
        "migrationsApplied": applied,
        "backupPath": None,
        "pid": os.getpid(),
    }
    write_message(out, {"method": "sidecar-ready", "params": ready})

    for line in sys.stdin.buffer:
        if line.strip() and not handle_line(db, out, line):
            break
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
