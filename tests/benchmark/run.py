"""Benchmark the marketing sidecar against the floor sidecar.

Both programs run as real child processes that the driver talks to over their
stdin and stdout pipes with NDJSON JSON-RPC, each on its own fresh database in
a temporary folder. The driver alternates between the two per boot, per call,
per upsert batch and per chunk of pipelined creates, so that noise from the
machine spreads evenly over both. It checks every reply while it measures and
exits with status 1 on the first wrong or missing one. Every ratio is
sidecar / floor, and an unmet target is reported but does not fail the run.

    python tests/benchmark/run.py [--sidecar-cmd "..."] [--quick] [--json FILE]

The driver reads replies with `selectors` on the pipe and reads peak memory
from /proc, so it needs Linux (or, without the memory figure, another POSIX
system). It imports the standard library only.
"""

import argparse
import gc
import json
import math
import os
import platform
import selectors
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLOOR_SCRIPT = Path(__file__).resolve().with_name("floor_sidecar.py")

# Upper bound on the wait for one message. It is far above any single call of
# this workload, so reaching it means the sidecar hangs rather than runs slowly.
READ_TIMEOUT_SECONDS = 30.0
EXIT_TIMEOUT_SECONDS = 30.0

# The protocol's default --max-message-bytes. The driver checks its own
# requests against it so that an oversized batch fails here, not in the sidecar.
MAX_MESSAGE_BYTES = 1024 * 1024

# Contacts 0..99 carry this tag, so a create with this audience targets 100.
TARGET_TAG = "bench-target"
TARGET_AUDIENCE_SIZE = 100
TASK_AUDIENCE = {"source": "tag", "tags": [TARGET_TAG], "minIntentScore": 0}

TAG_ESTIMATE_AUDIENCE = {"source": "tag", "tags": ["tag-3"], "minIntentScore": 20}
RECENT_ESTIMATE_AUDIENCE = {"source": "recent", "recentDays": 30, "minIntentScore": 33}
ESTIMATE_BASES = {"recent": 150, "tag": 80, "group": 200}

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Workload:
    """Sizes of one benchmark run. Each count applies to each sidecar.

    Pipelined creates run until the database contains `total_tasks` tasks,
    counting the sequential ones, and `deep_page` must fit within that.
    """

    boot_spawns: int
    sequential_creates: int
    total_tasks: int
    pipeline_depth: int
    pipeline_chunk: int
    contacts: int
    contact_batch: int
    estimate_calls: int
    list_calls: int
    page_size: int
    deep_page: int


FULL_WORKLOAD = Workload(
    boot_spawns=11,
    sequential_creates=500,
    total_tasks=10_000,
    pipeline_depth=32,
    pipeline_chunk=500,
    contacts=100_000,
    contact_batch=5_000,
    estimate_calls=51,
    list_calls=51,
    page_size=50,
    deep_page=190,
)

# The quick run keeps the deep page at the same relative depth (page 38 of 40
# is like page 190 of 200) and takes enough samples for a median.
QUICK_WORKLOAD = Workload(
    boot_spawns=5,
    sequential_creates=100,
    total_tasks=2_000,
    pipeline_depth=32,
    pipeline_chunk=500,
    contacts=20_000,
    contact_batch=5_000,
    estimate_calls=11,
    list_calls=11,
    page_size=50,
    deep_page=38,
)


class BenchmarkError(Exception):
    """A sidecar failed, hung, or sent a reply that breaks the protocol."""


def format_utc(seconds):
    """Format epoch seconds as the fixed-width UTC text that the sidecars store."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%03dZ" % millis


def log_progress(started, text):
    print("[%6.1f s] %s" % (time.perf_counter() - started, text), file=sys.stderr, flush=True)


class SidecarClient:
    """One sidecar process on one database, driven over its stdin and stdout."""

    def __init__(self, label, command, db_path, log_path, cpus=None):
        self.label = label
        self.db_path = db_path
        self.ready_at = None
        self._buffer = bytearray()
        self._next_request_id = 1
        self._log_path = log_path
        self._log = open(log_path, "wb")
        self.spawned_at = time.perf_counter()
        try:
            self.process = subprocess.Popen(
                command + ["--db", str(db_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
            )
        except OSError as exc:
            self._log.close()
            raise BenchmarkError("%s: failed to start %s: %s" % (label, command, exc)) from exc
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def encode_request(self, method, params):
        """Return a new request id and the request's line."""
        request_id = self._next_request_id
        self._next_request_id += 1
        request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        line = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(line) > MAX_MESSAGE_BYTES:
            raise BenchmarkError(
                "%s: %s request is %d bytes, over the %d byte message limit; use smaller batches"
                % (self.label, method, len(line), MAX_MESSAGE_BYTES)
            )
        return request_id, line + b"\n"

    def write_line(self, line):
        try:
            self.process.stdin.write(line)
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise self.failure("stdin closed while writing a request") from exc

    def read_message(self):
        """Read the next non-blank line from stdout and return it as a JSON object."""
        line = self._read_line()
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise self.failure("stdout line is not JSON: %r" % line[:200]) from exc
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise self.failure("stdout line is not a JSON-RPC 2.0 message: %r" % line[:200])
        return message

    def _read_line(self):
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline]).rstrip(b"\r")
                del self._buffer[: newline + 1]
                if line.strip():
                    return line
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.failure("timed out after %.0f s waiting for a message" % READ_TIMEOUT_SECONDS)
            if not self._selector.select(remaining):
                continue
            chunk = os.read(self.process.stdout.fileno(), 1 << 20)
            if not chunk:
                raise self.failure("stdout closed unexpectedly (exit status %s)" % self.exit_status())
            self._buffer += chunk

    def call(self, method, params):
        """Send one request and return its result and the seconds from write to reply."""
        request_id, line = self.encode_request(method, params)
        started = time.perf_counter()
        self.write_line(line)
        message = self.read_message()
        elapsed = time.perf_counter() - started
        return self.result_of(message, request_id), elapsed

    def result_of(self, message, request_id):
        """Return the result of a success response to `request_id`, or raise."""
        if message.get("id") != request_id or "method" in message:
            raise self.failure("expected the response to request %d, got %s" % (request_id, brief(message)))
        if "error" in message:
            raise self.failure("request %d failed: %s" % (request_id, brief(message["error"])))
        result = message.get("result")
        if not isinstance(result, dict) or result.get("success") is not True:
            raise self.failure("request %d result lacks \"success\": true: %s" % (request_id, brief(result)))
        return result

    def wait_ready(self):
        """Read boot notifications until `sidecar-ready` and return its params."""
        while True:
            message = self.read_message()
            method = message.get("method")
            if method == "sidecar-ready":
                self.ready_at = time.perf_counter()
                self.check_ready_params(message.get("params"))
                return message["params"]
            if method != "migration-progress":
                raise self.failure("expected sidecar-ready during boot, got %s" % brief(message))

    def check_ready_params(self, params):
        """Raise unless sidecar-ready names this database and this process."""
        if not isinstance(params, dict):
            raise self.failure("sidecar-ready has no params object")
        db_path = params.get("dbPath")
        if not isinstance(db_path, str) or os.path.realpath(db_path) != os.path.realpath(self.db_path):
            raise self.failure("sidecar-ready dbPath is %r, expected %s" % (db_path, self.db_path))
        # VmHWM is read for the spawned pid, which is only the sidecar's own
        # memory when no wrapper process sits in between.
        if params.get("pid") != self.process.pid:
            raise self.failure(
                "sidecar-ready pid is %r but the spawned process is %d; start the sidecar "
                "directly, not through a wrapper, so that its memory can be read"
                % (params.get("pid"), self.process.pid)
            )

    def peak_memory_kib(self):
        """Return VmHWM from /proc, or None where /proc is missing."""
        try:
            with open("/proc/%d/status" % self.process.pid, encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except FileNotFoundError:
            return None
        raise self.failure("/proc/%d/status has no VmHWM line" % self.process.pid)

    def shutdown(self):
        """Call shutdown and wait for the process to exit with status 0."""
        self.call("shutdown", {})
        self.process.stdin.close()
        try:
            status = self.process.wait(EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as exc:
            raise self.failure("still running %.0f s after shutdown" % EXIT_TIMEOUT_SECONDS) from exc
        if status != 0:
            raise self.failure("exited with status %d after shutdown" % status)

    def exit_status(self):
        """Return the exit status, or "unknown" if the process still runs a second after closing stdout."""
        try:
            return self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            return "unknown"

    def close(self):
        """Kill the process if it still runs and release the pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._selector.close()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._log.close()

    def failure(self, text):
        """Build the error for `text`, with the end of the process's stderr."""
        self._log.flush()
        with open(self._log_path, "rb") as log:
            tail = log.read()[-2000:].decode("utf-8", "replace").strip()
        detail = "\n  stderr ends with:\n  " + tail.replace("\n", "\n  ") if tail else ""
        return BenchmarkError("%s (pid %d): %s%s" % (self.label, self.process.pid, text, detail))


def brief(value):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "..."


@dataclass
class Side:
    """A sidecar program under test and the folder for its databases and logs."""

    label: str
    command: list
    work_dir: Path
    cpus: set | None = None
    spawn_count: int = 0

    def spawn(self, db_path):
        self.spawn_count += 1
        log_path = self.work_dir / ("%s-%03d.stderr" % (self.label, self.spawn_count))
        return SidecarClient(self.label, self.command, db_path, log_path, self.cpus)

    def database(self, name):
        return self.work_dir / ("%s-%s.db" % (self.label, name))


def in_turn(items, repetition):
    """Return the items in order on even repetitions and reversed on odd ones."""
    return list(items) if repetition % 2 == 0 else list(reversed(items))


def percentile(samples, fraction):
    """Return the nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def make_contacts(count, reference_time):
    """Build the contacts both sidecars receive.

    Every tenth contact carries each "tag-N", every twentieth each "group-N",
    and every seventh has never been contacted. The others were contacted a
    whole number of days plus 12 hours before `reference_time`, which keeps
    each contact half a day away from the edge of any recentDays window.
    """
    contacts = []
    for index in range(count):
        tags = ["tag-%d" % (index % 10)]
        if index < TARGET_AUDIENCE_SIZE:
            tags.append(TARGET_TAG)
        if index % 7 == 0:
            last_contacted_at = None
        else:
            age = (index % 365) * SECONDS_PER_DAY + SECONDS_PER_DAY / 2
            last_contacted_at = format_utc(reference_time - age)
        contacts.append(
            {
                "externalId": "bench:%06d" % index,
                "displayName": "Contact %d" % index,
                "intentScore": index * 37 % 101,
                "lastContactedAt": last_contacted_at,
                "tags": tags,
                "groups": ["group-%d" % (index % 20)],
            }
        )
    return contacts


def count_audience(contacts, audience):
    """Count the contacts that a recent or tag audience resolves to, by the protocol's rules."""
    cutoff = format_utc(time.time() - audience.get("recentDays", 30) * SECONDS_PER_DAY)
    minimum = audience.get("minIntentScore", 0)
    count = 0
    for contact in contacts:
        if audience["source"] == "recent":
            selected = contact["lastContactedAt"] is not None and contact["lastContactedAt"] >= cutoff
        elif audience["source"] == "tag":
            selected = not set(contact["tags"]).isdisjoint(audience["tags"])
        else:
            raise ValueError("count_audience supports recent and tag audiences, not %r" % audience["source"])
        if selected and contact["intentScore"] >= minimum:
            count += 1
    return count


def create_params(number):
    return {"name": "Benchmark task %d" % number, "audience": TASK_AUDIENCE}


def check_created_task(client, task):
    """Raise unless `task` has an integer id > 0 and the expected target count."""
    task_id = task.get("id") if isinstance(task, dict) else None
    if not isinstance(task_id, int) or isinstance(task_id, bool) or task_id <= 0:
        raise client.failure("created task has no integer id > 0: %s" % brief(task))
    if task.get("targetCount") != TARGET_AUDIENCE_SIZE:
        raise client.failure(
            "task %d has targetCount %r, expected %d"
            % (task_id, task.get("targetCount"), TARGET_AUDIENCE_SIZE)
        )
    return task_id


def check_created_result(client, result):
    if result.get("replayed") is not False:
        raise client.failure("create result has replayed %r, expected false" % result.get("replayed"))
    return check_created_task(client, result.get("task"))


def notified_task_id(client, message):
    """Return the task id of a marketing-task-created notification, or raise."""
    params = message.get("params")
    if message.get("method") != "marketing-task-created" or "id" in message or not isinstance(params, dict):
        raise client.failure("expected a marketing-task-created notification, got %s" % brief(message))
    seq = params.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq <= 0:
        raise client.failure("notification has no integer seq > 0: %s" % brief(params))
    return check_created_task(client, params.get("task"))


def create_round_trip(client, number):
    """Create one task and return the seconds until its response and notification arrived."""
    request_id, line = client.encode_request("create-marketing-task", create_params(number))
    started = time.perf_counter()
    client.write_line(line)
    result = client.result_of(client.read_message(), request_id)
    notified_id = notified_task_id(client, client.read_message())
    elapsed = time.perf_counter() - started

    task_id = check_created_result(client, result)
    if notified_id != task_id:
        raise client.failure("response created task %d but the notification names task %d" % (task_id, notified_id))
    return elapsed


def run_pipelined_creates(client, count, depth, first_number):
    """Create `count` tasks with up to `depth` unfinished and return the seconds taken.

    A create stays unfinished until both its response and its notification
    have arrived. The protocol writes the response first, so a notification
    for a task without a response yet is an error.
    """
    lines = [client.encode_request("create-marketing-task", create_params(first_number + offset)) for offset in range(count)]
    awaiting_response = set()
    awaiting_notification = set()
    sent = 0
    finished = 0

    started = time.perf_counter()
    while finished < count:
        while sent < count and sent - finished < depth:
            request_id, line = lines[sent]
            client.write_line(line)
            awaiting_response.add(request_id)
            sent += 1

        message = client.read_message()
        if "method" in message:
            task_id = notified_task_id(client, message)
            if task_id not in awaiting_notification:
                raise client.failure("notification for task %d arrived before its response, or twice" % task_id)
            awaiting_notification.remove(task_id)
            finished += 1
        else:
            request_id = message.get("id")
            if request_id not in awaiting_response:
                raise client.failure("response to an unknown request: %s" % brief(message))
            awaiting_response.remove(request_id)
            awaiting_notification.add(check_created_result(client, client.result_of(message, request_id)))
    return time.perf_counter() - started


def measure_boot(sides, spawns, migrated):
    """Return each side's boot times in seconds, from spawn to sidecar-ready.

    A fresh boot gets a new database path every time. A migrated boot reuses
    one database per side that an untimed boot has already set up.
    """
    if migrated:
        for side in sides:
            boot_once(side, side.database("migrated"))

    samples = {side.label: [] for side in sides}
    for repetition in range(spawns):
        for side in in_turn(sides, repetition):
            if migrated:
                db_path = side.database("migrated")
            else:
                db_path = side.database("fresh-%02d" % repetition)
            samples[side.label].append(boot_once(side, db_path))
    return samples


def boot_once(side, db_path):
    client = side.spawn(db_path)
    try:
        client.wait_ready()
        elapsed = client.ready_at - client.spawned_at
        client.shutdown()
    finally:
        client.close()
    return elapsed


def measure_upsert(clients, contacts, batch_size):
    """Upsert the contacts in batches, alternating sides per batch, and return contacts per second."""
    elapsed = {client.label: 0.0 for client in clients}
    for batch_number, start in enumerate(range(0, len(contacts), batch_size)):
        batch = contacts[start : start + batch_size]
        for client in in_turn(clients, batch_number):
            result, seconds = client.call("upsert-contacts", {"contacts": batch})
            if result.get("inserted") != len(batch) or result.get("updated") != 0:
                raise client.failure(
                    "upsert of %d new contacts returned inserted=%r updated=%r"
                    % (len(batch), result.get("inserted"), result.get("updated"))
                )
            elapsed[client.label] += seconds
    return {label: len(contacts) / seconds for label, seconds in elapsed.items()}


def measure_estimate(clients, audience, calls, expected_actual):
    """Return each side's estimate-audience times, checking both counts on every reply."""
    minimum = audience.get("minIntentScore", 0)
    base = ESTIMATE_BASES[audience["source"]]
    expected_estimate = base * (100 - minimum) // 100 + 10
    samples = {client.label: [] for client in clients}
    for repetition in range(calls):
        for client in in_turn(clients, repetition):
            result, seconds = client.call("estimate-audience", {"audience": audience})
            if result.get("actualAudience") != expected_actual:
                raise client.failure(
                    "estimate of %s returned actualAudience %r, expected %d"
                    % (brief(audience), result.get("actualAudience"), expected_actual)
                )
            if result.get("estimatedAudience") != expected_estimate:
                raise client.failure(
                    "estimate of %s returned estimatedAudience %r, expected %d"
                    % (brief(audience), result.get("estimatedAudience"), expected_estimate)
                )
            samples[client.label].append(seconds)
    return samples


def measure_sequential_creates(clients, count):
    """Return each side's create round trips, alternating sides per call."""
    samples = {client.label: [] for client in clients}
    for number in range(count):
        for client in in_turn(clients, number):
            samples[client.label].append(create_round_trip(client, number))
    return samples


def measure_pipelined_creates(clients, count, first_number, workload):
    """Create `count` tasks per side in alternating chunks and return creates per second."""
    elapsed = {client.label: 0.0 for client in clients}
    for chunk_number, start in enumerate(range(0, count, workload.pipeline_chunk)):
        size = min(workload.pipeline_chunk, count - start)
        for client in in_turn(clients, chunk_number):
            elapsed[client.label] += run_pipelined_creates(
                client, size, workload.pipeline_depth, first_number + start
            )
    return {label: count / seconds for label, seconds in elapsed.items()}


def fetch_page(client, cursor, page_size):
    """Fetch one task page and return its tasks, next cursor and the seconds taken."""
    result, seconds = client.call("list-marketing-tasks", {"limit": page_size, "cursor": cursor})
    tasks = result.get("tasks")
    next_cursor = result.get("nextCursor")
    if not isinstance(tasks, list) or not (next_cursor is None or isinstance(next_cursor, str)):
        raise client.failure("list result lacks a task array or a string-or-null nextCursor: %s" % brief(result))
    return tasks, next_cursor, seconds


def check_page(client, tasks, page_number, page_size, newest_id):
    """Raise unless the page contains the expected consecutive task ids, newest first.

    The driver never deletes tasks, so ids in a fresh database have no gaps.
    """
    first_id = newest_id - (page_number - 1) * page_size
    expected_ids = list(range(first_id, first_id - page_size, -1))
    ids = [task.get("id") if isinstance(task, dict) else None for task in tasks]
    if ids != expected_ids:
        raise client.failure(
            "page %d has task ids %s..%s (%d tasks), expected %d..%d"
            % (page_number, ids[:1], ids[-1:], len(ids), expected_ids[0], expected_ids[-1])
        )
    for task in tasks:
        check_created_task(client, task)


def walk_to_page(client, page_number, page_size):
    """Follow the cursor from the first page and return the cursor of `page_number`
    and the newest task id."""
    tasks, cursor, _ = fetch_page(client, None, page_size)
    if not tasks or not isinstance(tasks[0], dict):
        raise client.failure("the first task page is empty")
    newest_id = tasks[0].get("id")
    check_page(client, tasks, 1, page_size, newest_id)
    for current in range(2, page_number):
        if cursor is None:
            raise client.failure("nextCursor is null on page %d, expected %d pages or more" % (current - 1, page_number))
        tasks, cursor, _ = fetch_page(client, cursor, page_size)
        check_page(client, tasks, current, page_size, newest_id)
    if cursor is None:
        raise client.failure("nextCursor is null on page %d, expected %d pages or more" % (page_number - 1, page_number))
    return cursor, newest_id


def measure_list_page(clients, cursors, page_number, calls, page_size, newest_ids):
    """Return each side's times for fetching `page_number` with its cursor."""
    samples = {client.label: [] for client in clients}
    for repetition in range(calls):
        for client in in_turn(clients, repetition):
            tasks, _, seconds = fetch_page(client, cursors[client.label], page_size)
            check_page(client, tasks, page_number, page_size, newest_ids[client.label])
            samples[client.label].append(seconds)
    return samples


@dataclass(frozen=True)
class Figure:
    """One measured figure for both sides, with its target ratio."""

    key: str
    name: str
    unit: str
    better: str
    sidecar: float | None
    floor: float | None
    target: float | None = None

    @property
    def ratio(self):
        if self.sidecar is None or self.floor is None or self.floor == 0:
            return None
        return self.sidecar / self.floor

    @property
    def met(self):
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target if self.better == "lower" else self.ratio >= self.target

    def as_dict(self):
        return {
            "key": self.key,
            "name": self.name,
            "unit": self.unit,
            "better": self.better,
            "sidecar": self.sidecar,
            "floor": self.floor,
            "ratio": self.ratio,
            "target": self.target,
            "targetMet": self.met,
        }


def latency_figure(key, name, samples, fraction, target):
    """Build a figure in ms from the given percentile of each side's seconds."""
    return Figure(
        key,
        name,
        "ms",
        "lower",
        percentile(samples["sidecar"], fraction) * 1000,
        percentile(samples["floor"], fraction) * 1000,
        target,
    )


def median_figure(key, name, samples, target):
    return Figure(
        key,
        name,
        "ms",
        "lower",
        statistics.median(samples["sidecar"]) * 1000,
        statistics.median(samples["floor"]) * 1000,
        target,
    )


def run_boot_figures(sides, workload, started):
    log_progress(started, "boot on fresh files, %d spawns per side" % workload.boot_spawns)
    fresh = measure_boot(sides, workload.boot_spawns, migrated=False)
    log_progress(started, "boot on migrated files, %d spawns per side" % workload.boot_spawns)
    migrated = measure_boot(sides, workload.boot_spawns, migrated=True)
    return [
        median_figure("boot_migrated_ms", "boot to ready, migrated file (median)", migrated, 6.0),
        median_figure("boot_fresh_ms", "boot to ready, fresh file (median)", fresh, 9.0),
    ]


def run_frozen_boot_figure(frozen_side, floor_side, workload, started):
    """Time the frozen build's boot on a migrated file against the floor's, in the same interleaved way."""
    log_progress(started, "boot of the frozen build on migrated files, %d spawns per side" % workload.boot_spawns)
    samples = measure_boot([frozen_side, floor_side], workload.boot_spawns, migrated=True)
    samples["sidecar"] = samples.pop(frozen_side.label)
    return median_figure("boot_migrated_frozen_ms", "boot to ready, migrated file, frozen build (median)", samples, None)


def run_workload_figures(sides, workload, started):
    """Drive one long-lived process per side through every data figure."""
    clients = []
    try:
        for side in sides:
            clients.append(side.spawn(side.database("workload")))
        for client in clients:
            client.wait_ready()
        return drive_workload(clients, workload, started)
    finally:
        for client in clients:
            client.close()


def drive_workload(clients, workload, started):
    contacts = make_contacts(workload.contacts, time.time())
    log_progress(started, "upsert %d contacts in batches of %d" % (workload.contacts, workload.contact_batch))
    upsert = measure_upsert(clients, contacts, workload.contact_batch)

    log_progress(started, "estimate-audience, %d calls per audience" % workload.estimate_calls)
    tag_estimate = measure_estimate(
        clients, TAG_ESTIMATE_AUDIENCE, workload.estimate_calls, count_audience(contacts, TAG_ESTIMATE_AUDIENCE)
    )
    recent_estimate = measure_estimate(
        clients, RECENT_ESTIMATE_AUDIENCE, workload.estimate_calls, count_audience(contacts, RECENT_ESTIMATE_AUDIENCE)
    )

    log_progress(started, "create round trips, %d sequential calls" % workload.sequential_creates)
    sequential = measure_sequential_creates(clients, workload.sequential_creates)

    pipelined_count = workload.total_tasks - workload.sequential_creates
    log_progress(started, "pipelined creates, %d with %d in flight" % (pipelined_count, workload.pipeline_depth))
    pipelined = measure_pipelined_creates(clients, pipelined_count, workload.sequential_creates, workload)

    log_progress(started, "list-marketing-tasks, page 1 and page %d" % workload.deep_page)
    first_cursors = {client.label: None for client in clients}
    newest_ids = {}
    deep_cursors = {}
    for client in clients:
        deep_cursors[client.label], newest_ids[client.label] = walk_to_page(
            client, workload.deep_page, workload.page_size
        )
    first_page = measure_list_page(clients, first_cursors, 1, workload.list_calls, workload.page_size, newest_ids)
    deep_page = measure_list_page(
        clients, deep_cursors, workload.deep_page, workload.list_calls, workload.page_size, newest_ids
    )

    memory = {}
    for client in clients:
        peak_kib = client.peak_memory_kib()
        memory[client.label] = None if peak_kib is None else peak_kib / 1024
        client.shutdown()

    deep_name = "list-marketing-tasks page %d p50" % workload.deep_page
    return [
        latency_figure("create_p50_ms", "create-marketing-task round trip p50", sequential, 0.50, 1.5),
        latency_figure("create_p99_ms", "create-marketing-task round trip p99", sequential, 0.99, 2.0),
        Figure(
            "pipelined_creates_per_second",
            "pipelined creates (%d in flight)" % workload.pipeline_depth,
            "creates/s",
            "higher",
            pipelined["sidecar"],
            pipelined["floor"],
            0.6,
        ),
        Figure(
            "upsert_contacts_per_second",
            "upsert-contacts (batches of %d)" % workload.contact_batch,
            "contacts/s",
            "higher",
            upsert["sidecar"],
            upsert["floor"],
            0.5,
        ),
        latency_figure("estimate_tag_p50_ms", "estimate-audience, tag audience p50", tag_estimate, 0.50, 1.5),
        latency_figure(
            "estimate_recent_p50_ms", "estimate-audience, recent audience p50", recent_estimate, 0.50, 1.5
        ),
        latency_figure("list_first_page_p50_ms", "list-marketing-tasks page 1 p50", first_page, 0.50, None),
        latency_figure("list_deep_page_p50_ms", deep_name, deep_page, 0.50, 1.5),
        Figure(
            "peak_memory_mib",
            "peak resident memory (VmHWM)",
            "MiB",
            "lower",
            memory["sidecar"],
            memory["floor"],
            2.5,
        ),
    ]


def format_value(value, unit):
    if value is None:
        return "n/a"
    if unit == "ms":
        return "%.2f" % value
    if unit == "MiB":
        return "%.1f" % value
    return "{:,.0f}".format(value)


def format_target(figure):
    if figure.target is None:
        return "-"
    return ("<= %.1fx" if figure.better == "lower" else ">= %.1fx") % figure.target


def format_met(figure):
    return {True: "met", False: "NOT MET", None: "-"}[figure.met]


def report(figures):
    """Print the figures as a plain-text table on stdout."""
    header = ("figure", "unit", "sidecar", "floor", "ratio", "better", "target", "result")
    rows = [header]
    for figure in figures:
        rows.append(
            (
                figure.name,
                figure.unit,
                format_value(figure.sidecar, figure.unit),
                format_value(figure.floor, figure.unit),
                "n/a" if figure.ratio is None else "%.2fx" % figure.ratio,
                figure.better,
                format_target(figure),
                format_met(figure),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column in (0, 1, 5) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print("ratio = sidecar / floor for every figure. Throughput ratios must reach the target,")
    print("time and memory ratios must stay at or below it.")


def write_json(path, figures, sides, workload, elapsed, arguments):
    document = {
        "figures": [figure.as_dict() for figure in figures],
        "quick": arguments.quick,
        "pinCpus": arguments.pin_cpus,
        "workload": workload.__dict__,
        "commands": {side.label: side.command for side in sides},
        "elapsedSeconds": elapsed,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpuCount": os.cpu_count(),
    }
    with open(path, "w", encoding="utf-8") as output:
        json.dump(document, output, indent=2)
        output.write("\n")


def split_cpus():
    """Pin this process to its first allowed CPU and return the other allowed CPUs."""
    if not hasattr(os, "sched_setaffinity"):
        raise BenchmarkError("--pin-cpus needs os.sched_setaffinity, which this system lacks; run without it")
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise BenchmarkError("--pin-cpus needs 2 or more CPUs, but only %s are allowed; run without it" % allowed)
    os.sched_setaffinity(0, allowed[:1])
    return set(allowed[1:])


def default_sidecar_command():
    """Return the marketing-sidecar script next to this Python, else `python -m sidecar`."""
    scripts = Path(sys.executable).parent
    for name in ("marketing-sidecar", "marketing-sidecar.exe"):
        if (scripts / name).exists():
            return [str(scripts / name)]
    return [sys.executable, "-m", "sidecar"]


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="Compare the marketing sidecar with the minimal floor sidecar over real pipes."
    )
    parser.add_argument(
        "--sidecar-cmd",
        help="command that starts the sidecar under test, split like a POSIX shell; "
        "the driver appends --db PATH (default: marketing-sidecar next to this Python, "
        "else this Python with -m sidecar)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run a smaller workload (2,000 tasks, 20,000 contacts, 5 boots per kind) for a smoke test",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures and the run's settings to FILE as JSON")
    parser.add_argument(
        "--pin-cpus",
        action="store_true",
        help="run the driver on its first allowed CPU and both sidecars on the others (Linux only), "
        "so that the scheduler cannot place one sidecar better than the other",
    )
    parser.add_argument(
        "--frozen",
        metavar="PATH",
        help="also time the boot of this frozen executable (python -m sidecar.freeze builds one) on a migrated file",
    )
    parser.add_argument(
        "--work-dir",
        metavar="DIR",
        help="folder in which to create the temporary databases (default: the system temporary folder); "
        "fsync cost depends on it, and a RAM-backed folder hides that cost",
    )
    return parser.parse_args(argv)


def main(argv):
    arguments = parse_arguments(argv)
    workload = QUICK_WORKLOAD if arguments.quick else FULL_WORKLOAD
    sidecar_command = shlex.split(arguments.sidecar_cmd) if arguments.sidecar_cmd else default_sidecar_command()
    floor_command = [sys.executable, str(FLOOR_SCRIPT)]
    started = time.perf_counter()

    # A collection pass in the driver would add its pause to whichever side
    # is being timed. The driver's garbage is acyclic JSON, which reference
    # counting frees without the collector.
    gc.disable()

    with tempfile.TemporaryDirectory(prefix="sidecar-benchmark-", dir=arguments.work_dir) as work_dir:
        try:
            sidecar_cpus = split_cpus() if arguments.pin_cpus else None
            sides = [
                Side("sidecar", sidecar_command, Path(work_dir), sidecar_cpus),
                Side("floor", floor_command, Path(work_dir), sidecar_cpus),
            ]
            log_progress(started, "sidecar: %s" % shlex.join(sidecar_command))
            log_progress(started, "floor: %s" % shlex.join(floor_command))
            if sidecar_cpus is not None:
                log_progress(started, "sidecars pinned to CPUs %s" % sorted(sidecar_cpus))
            figures = run_boot_figures(sides, workload, started)
            if arguments.frozen:
                frozen_side = Side("frozen", [arguments.frozen], Path(work_dir), sidecar_cpus)
                figures.append(run_frozen_boot_figure(frozen_side, sides[1], workload, started))
            figures += run_workload_figures(sides, workload, started)
        except BenchmarkError as exc:
            print("benchmark failed: %s" % exc, file=sys.stderr)
            return 1

    elapsed = time.perf_counter() - started
    report(figures)
    print("finished in %.1f s (%s workload)" % (elapsed, "quick" if arguments.quick else "full"))
    if arguments.json:
        write_json(arguments.json, figures, sides, workload, elapsed, arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
