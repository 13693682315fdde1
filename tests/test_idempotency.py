"""clientRequestId: a repeated create returns the stored task, a reused key with other params is a conflict."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from sidecar.boot.startup import boot_database
from sidecar.errors import IDEMPOTENCY_CONFLICT, SidecarError
from sidecar.schemas.models import CreateMarketingTaskParams
from sidecar.services.tasks import TaskService
from sidecar.storage.timefmt import utc_now_text


def create_params(key: str, **fields) -> dict:
    return {"name": "idempotent", "audience": {"source": "recent"}, "clientRequestId": key, **fields}


def rows(db_path, sql: str, params=()) -> list[tuple]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def create(process, params) -> tuple[dict, list]:
    """Create a task; return the response and the messages up to the response of a get-status sent after it.

    The get-status after the create makes every notification the create
    emitted arrive before its response.
    """
    response, _ = process.request("create-marketing-task", params)
    _, after = process.request("get-status")
    return response, after


# --- one sidecar ---------------------------------------------------------------


def test_same_key_same_params_replays(sidecar, db_path):
    first, first_after = create(sidecar, create_params("k-1"))
    second, second_after = create(sidecar, create_params("k-1"))

    assert first["result"]["replayed"] is False
    assert second["result"]["replayed"] is True
    assert second["result"]["task"] == first["result"]["task"]
    assert [m["method"] for m in first_after] == ["marketing-task-created"]
    assert second_after == []
    assert rows(db_path, "SELECT COUNT(*) FROM marketing_tasks") == [(1,)]
    assert rows(db_path, "SELECT COUNT(*) FROM marketing_events") == [(1,)]


def test_same_meaning_counts_as_same_params(sidecar):
    """Params are compared as stored: the same instant in another offset and spelled-out defaults replay."""
    first, _ = create(sidecar, create_params("k-2", scheduledAt="2026-12-05T09:00:00+08:00"))
    second, after = create(
        sidecar,
        create_params(
            "k-2",
            name="  idempotent ",
            scheduledAt="2026-12-05T01:00:00Z",
            audience={"source": "recent", "recentDays": 30, "minIntentScore": 0},
        ),
    )

    assert second["result"]["replayed"] is True
    assert second["result"]["task"]["id"] == first["result"]["task"]["id"]
    assert after == []


def test_audience_list_order_does_not_matter(sidecar):
    """A retry that lists the same tags in another order is the same request."""
    first, _ = create(sidecar, create_params("k-order", audience={"source": "tag", "tags": ["a", "b"]}))
    second, after = create(sidecar, create_params("k-order", audience={"source": "tag", "tags": ["b", "a", "a"]}))

    assert second["result"]["replayed"] is True
    assert second["result"]["task"]["id"] == first["result"]["task"]["id"]
    assert after == []


@pytest.mark.parametrize(
    "changed",
    [
        {"name": "another name"},
        {"audience": {"source": "tag", "tags": ["a", "c"]}},
        {"audience": {"source": "recent", "minIntentScore": 10}},
        {"messageTemplate": "hello"},
        {"estimatedAudience": 5},
        {"scheduledAt": "2026-12-05T09:00:00+08:00"},
    ],
)
def test_same_key_other_params_conflicts(sidecar, db_path, changed):
    first, _ = create(sidecar, create_params("k-3"))

    response, after = create(sidecar, {**create_params("k-3"), **changed})

    assert response["error"]["code"] == IDEMPOTENCY_CONFLICT.rpc_code
    info = response["error"]["data"]["error"]
    assert info["code"] == "IDEMPOTENCY_CONFLICT"
    assert info["retryable"] is False
    assert after == []
    assert rows(db_path, "SELECT id FROM marketing_tasks") == [(first["result"]["task"]["id"],)]


def test_key_replays_after_restart(spawn, db_path):
    first_process = spawn(db_path)
    first_process.wait_ready()
    first, _ = create(first_process, create_params("k-4"))
    assert first_process.stop() == 0

    second_process = spawn(db_path)
    second_process.wait_ready()
    second, after = create(second_process, create_params("k-4"))

    assert second["result"]["replayed"] is True
    assert second["result"]["task"] == first["result"]["task"]
    assert after == []


def test_key_is_unique_in_file(sidecar, db_path):
    create(sidecar, create_params("k-5"))

    connection = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute(
                "INSERT INTO marketing_tasks (name, status, audience, client_request_id, created_at, updated_at) "
                "VALUES ('copy', 'draft', '{}', 'k-5', '', '')"
            )
    finally:
        connection.close()


# --- two sidecars on one file --------------------------------------------------


def send_burst(process, keys: list[str], extra: dict) -> list:
    return [process.send_request("create-marketing-task", create_params(key, **extra)) for key in keys]


def collect(process, request_ids: list) -> tuple[dict, list]:
    """Read the responses to request_ids; return them by id and the notifications seen."""
    responses, notifications = {}, []
    for request_id in request_ids:
        response, before = process.read_response(request_id)
        responses[request_id] = response
        notifications.extend(before)
    _, after = process.request("get-status")
    notifications.extend(after)
    return responses, notifications


def test_two_sidecars_racing_store_one_task_per_key(spawn, db_path):
    """Both sidecars get the same 60 keys at once: each key ends up as one task and one notification."""
    keys = [f"race-{index}" for index in range(60)]
    left, right = spawn(db_path), spawn(db_path)
    left.wait_ready()
    right.wait_ready()

    left_ids = send_burst(left, keys, {})
    right_ids = send_burst(right, list(reversed(keys)), {})
    left_responses, left_notes = collect(left, left_ids)
    right_responses, right_notes = collect(right, right_ids)

    responses = list(left_responses.values()) + list(right_responses.values())
    assert all("result" in response for response in responses), [r for r in responses if "error" in r][:3]
    created = Counter(r["result"]["task"]["clientRequestId"] for r in responses if not r["result"]["replayed"])
    assert created == Counter(keys)
    task_ids = {}
    for response in responses:
        task = response["result"]["task"]
        assert task_ids.setdefault(task["clientRequestId"], task["id"]) == task["id"]
    notified = Counter(n["params"]["task"]["clientRequestId"] for n in left_notes + right_notes)
    assert notified == Counter(keys)
    assert rows(db_path, "SELECT COUNT(*), COUNT(DISTINCT client_request_id) FROM marketing_tasks") == [(60, 60)]
    assert rows(db_path, "SELECT COUNT(*) FROM marketing_events") == [(60,)]


def test_two_sidecars_same_key_other_params(spawn, db_path):
    """The sidecar that commits second gets IDEMPOTENCY_CONFLICT for every key, whichever it is."""
    keys = [f"clash-{index}" for index in range(30)]
    left, right = spawn(db_path), spawn(db_path)
    left.wait_ready()
    right.wait_ready()

    left_ids = send_burst(left, keys, {"messageTemplate": "left"})
    right_ids = send_burst(right, keys, {"messageTemplate": "right"})
    left_responses, _ = collect(left, left_ids)
    right_responses, _ = collect(right, right_ids)

    stored = dict(rows(db_path, "SELECT client_request_id, message_template FROM marketing_tasks"))
    assert len(stored) == 30
    for key, left_id, right_id in zip(keys, left_ids, right_ids):
        winner, loser = (left_responses[left_id], right_responses[right_id])
        if stored[key] == "right":
            winner, loser = loser, winner
        assert winner["result"]["replayed"] is False
        assert loser["error"]["data"]["error"]["code"] == "IDEMPOTENCY_CONFLICT"


# --- the unique index as the last guard ------------------------------------------


@pytest.fixture
def task_service(db_path):
    report = boot_database(db_path, lambda name, index, total: None)
    assert report.ready, report.error
    yield TaskService(report.database, utc_now_text)
    report.database.close()


def miss_first_lookup(service: TaskService, monkeypatch) -> None:
    """Make the in-transaction lookup miss once, as if another writer committed right after it."""
    real_lookup = service._find_by_client_request_id
    calls = []

    def lookup(key):
        calls.append(key)
        return None if len(calls) == 1 else real_lookup(key)

    monkeypatch.setattr(service, "_find_by_client_request_id", lookup)


def test_unique_violation_answers_as_replay(task_service, monkeypatch):
    params = CreateMarketingTaskParams.model_validate(create_params("guard-1"))
    first = task_service.create(params)
    miss_first_lookup(task_service, monkeypatch)

    second = task_service.create(params)

    assert second.result["replayed"] is True
    assert second.result["task"]["id"] == first.result["task"]["id"]
    assert second.notification is None


def test_unique_violation_with_other_params_conflicts(task_service, monkeypatch):
    task_service.create(CreateMarketingTaskParams.model_validate(create_params("guard-2")))
    miss_first_lookup(task_service, monkeypatch)

    with pytest.raises(SidecarError) as raised:
        task_service.create(CreateMarketingTaskParams.model_validate(create_params("guard-2", name="other")))

    assert raised.value.code is IDEMPOTENCY_CONFLICT
