// SidecarBridge against the real sidecar: boot, typed errors, timeouts,
// catch-up, and a SIGKILL in the middle of a burst of creates.
//
// Run: SIDECAR_COMMAND='["python", "-m", "sidecar"]' node --test bridge.test.mjs
// Without SIDECAR_COMMAND the repository's .venv Python runs `-m sidecar`.
// tests/test_node_bridge.py runs this file from pytest.

import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  SidecarBridge,
  SidecarDegradedError,
  SidecarExitedError,
  SidecarRequestError,
  SidecarTimeoutError,
  SidecarUnavailableError,
} from "./sidecar-bridge.mjs";

const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));
const WAIT_MS = 20_000;

function sidecarCommand() {
  if (process.env.SIDECAR_COMMAND) {
    return JSON.parse(process.env.SIDECAR_COMMAND);
  }
  const python = process.platform === "win32" ? path.join(REPOSITORY, ".venv", "Scripts", "python.exe") : path.join(REPOSITORY, ".venv", "bin", "python");
  return [python, "-m", "sidecar"];
}

/** Reject with a message naming what was awaited, plus the bridge's recent log, if the promise takes longer than ms. */
function withTimeout(promise, ms, what, logs = []) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; log tail:\n${logTail(logs)}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function logTail(logs, count = 15) {
  return logs
    .slice(-count)
    .map((entry) => JSON.stringify(entry))
    .join("\n");
}

async function temporaryFolder(t) {
  const folder = await mkdtemp(path.join(os.tmpdir(), "sidecar-bridge-"));
  t.after(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

/** Create a bridge that the test stops at its end whatever happened; logs collects its log sink. */
function createBridge(t, dbPath, options = {}) {
  const logs = [];
  const bridge = new SidecarBridge({
    command: sidecarCommand(),
    dbPath,
    requestTimeoutMs: WAIT_MS,
    log: (entry) => logs.push(entry),
    ...options,
  });
  t.after(() => bridge.stop());
  return { bridge, logs };
}

/** Record every marketing-task-created the listener receives, and wait for a count. */
function collectCreated(bridge, logs) {
  const received = [];
  const waiters = [];
  bridge.onNotification("marketing-task-created", (params) => {
    received.push(params);
    for (const waiter of waiters.filter((entry) => received.length >= entry.count)) {
      waiter.resolve();
    }
  });
  const waitForCount = (count) => {
    if (received.length >= count) {
      return Promise.resolve();
    }
    const done = new Promise((resolve) => waiters.push({ count, resolve }));
    return withTimeout(done, WAIT_MS, `${count} marketing-task-created notifications (have ${received.length})`, logs);
  };
  return { received, waitForCount };
}

function nextEvent(bridge, name, logs) {
  return withTimeout(new Promise((resolve) => bridge.once(name, resolve)), WAIT_MS, `the bridge's ${name} event`, logs);
}

function createParams(key) {
  return { name: `任务 ${key}`, audience: { source: "recent", minIntentScore: 10 }, clientRequestId: key };
}

/** Return every task in the file, read through the sidecar page by page. */
async function listAllTasks(bridge) {
  const tasks = [];
  let cursor = null;
  do {
    const page = await bridge.request("list-marketing-tasks", { limit: 200, cursor });
    tasks.push(...page.tasks);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return tasks;
}

test("bridge boots, creates and forwards the notification", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath);
  const created = collectCreated(bridge, logs);

  const ready = await withTimeout(bridge.start(), WAIT_MS, "start()", logs);
  const result = await bridge.request("create-marketing-task", createParams("first"));
  await created.waitForCount(1);

  assert.equal(bridge.state, "ready");
  assert.equal(ready.pid, bridge.pid);
  assert.equal(ready.dbPath, dbPath);
  assert.equal(result.replayed, false);
  assert.equal(created.received[0].task.id, result.task.id);
  assert.equal(created.received[0].seq, 1);
  assert.equal(bridge.lastSeq, 1);
  assert.ok(logs.some((entry) => entry.source === "sidecar"), "the sidecar's stderr reaches the log sink");
});

test("bridge rejects an error response with ErrorInfo", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath);
  await withTimeout(bridge.start(), WAIT_MS, "start()", logs);

  const invalid = bridge.request("create-marketing-task", { name: "   ", audience: { source: "recent" } });
  const missing = bridge.request("get-marketing-task", { id: 999 });

  await assert.rejects(invalid, (error) => {
    assert.ok(error instanceof SidecarRequestError);
    assert.equal(error.code, "VALIDATION_FAILED");
    assert.equal(error.rpcCode, -32602);
    assert.equal(error.retryable, false);
    assert.equal(error.info.fields[0].path, "name");
    return true;
  });
  await assert.rejects(missing, (error) => {
    assert.ok(error instanceof SidecarRequestError);
    assert.equal(error.code, "NOT_FOUND");
    assert.ok(error.info.userMessage.length > 0);
    return true;
  });
});

test("bridge stop exits cleanly and rejects later requests", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath);
  await withTimeout(bridge.start(), WAIT_MS, "start()", logs);
  const exits = [];
  bridge.on("exit", (exit) => exits.push(exit));
  bridge.on("restarting", () => assert.fail("a requested stop must not restart the sidecar"));

  const status = bridge.request("get-status", {});
  const exit = await withTimeout(bridge.stop(), WAIT_MS, "stop()", logs);

  assert.equal((await status).state, "ready", "a request written before stop() is still answered");
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null });
  assert.equal(exits[0].expected, true);
  assert.equal(bridge.state, "stopped");
  await assert.rejects(bridge.request("get-status", {}), SidecarUnavailableError);
});

test("bridge does not restart after a shutdown request", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath);
  await withTimeout(bridge.start(), WAIT_MS, "start()", logs);
  bridge.on("restarting", () => assert.fail("a shutdown request must not restart the sidecar"));
  const exited = nextEvent(bridge, "exit", logs);

  const result = await bridge.request("shutdown", {});
  const exit = await exited;

  assert.equal(result.success, true);
  assert.equal(exit.code, 0);
  assert.equal(exit.expected, true);
  assert.equal(bridge.state, "stopped");
});

test("degraded boot rejects start with ErrorInfo", async (t) => {
  // A folder where the database file should be cannot be opened as SQLite.
  const dbPath = path.join(await temporaryFolder(t), "a-folder");
  await mkdir(dbPath);
  const { bridge, logs } = createBridge(t, dbPath);
  const degraded = nextEvent(bridge, "degraded", logs);

  const started = bridge.start();

  const error = await withTimeout(started, WAIT_MS, "start()", logs).then(
    () => assert.fail("start() resolved on a degraded boot"),
    (rejection) => rejection,
  );
  const degradedParams = await degraded;

  assert.ok(error instanceof SidecarDegradedError, `${error.name}: ${error.message}`);
  assert.ok(["DATABASE_UNAVAILABLE", "DATABASE_NOT_READY"].includes(error.code), error.code);
  assert.deepEqual(error.info, degradedParams.error);
  assert.ok(error.info.userMessage.length > 0);
  assert.equal(bridge.state, "degraded");
  const status = await bridge.request("get-status", {});
  assert.equal(status.state, "degraded");
  await assert.rejects(bridge.request("create-marketing-task", createParams("degraded")), (error) => {
    assert.ok(error instanceof SidecarRequestError);
    assert.equal(error.code, "DATABASE_NOT_READY");
    return true;
  });
});

test("sidecar exit before boot rejects start", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  // An unknown --locale makes the argument parser exit 2 before the boot.
  const { bridge, logs } = createBridge(t, dbPath, { args: ["--locale", "xx"] });
  bridge.on("restarting", () => assert.fail("start() must not restart the sidecar"));

  await assert.rejects(withTimeout(bridge.start(), WAIT_MS, "start()", logs), (error) => {
    assert.ok(error instanceof SidecarExitedError);
    assert.equal(error.exitCode, 2);
    return true;
  });
  assert.equal(bridge.state, "failed");
});

test("request times out and the retry replays", { skip: process.platform === "win32" && "needs SIGSTOP" }, async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath);
  const created = collectCreated(bridge, logs);
  await withTimeout(bridge.start(), WAIT_MS, "start()", logs);
  const pid = bridge.pid;

  // A stopped sidecar cannot answer, so the timeout fires for certain; the
  // request waits in the pipe and is committed once the sidecar continues.
  process.kill(pid, "SIGSTOP");
  try {
    await assert.rejects(bridge.request("create-marketing-task", createParams("slow"), { timeoutMs: 300 }), (error) => {
      assert.ok(error instanceof SidecarTimeoutError);
      assert.equal(error.retryable, true);
      return true;
    });
  } finally {
    process.kill(pid, "SIGCONT");
  }
  await created.waitForCount(1);
  const retry = await bridge.request("create-marketing-task", createParams("slow"));

  assert.equal(retry.replayed, true);
  assert.equal(retry.task.id, created.received[0].task.id);
  assert.equal(created.received.length, 1);
  assert.ok(logs.some((entry) => entry.event === "protocol.late_response"), "the late response is logged and dropped");
});

test("start delivers events after lastSeenSeq", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const first = createBridge(t, dbPath);
  await withTimeout(first.bridge.start(), WAIT_MS, "start()", first.logs);
  for (const key of ["a", "b", "c"]) {
    await first.bridge.request("create-marketing-task", createParams(key));
  }
  await first.bridge.stop();

  const resumed = createBridge(t, dbPath, { lastSeenSeq: 1 });
  const resumedCreated = collectCreated(resumed.bridge, resumed.logs);
  await withTimeout(resumed.bridge.start(), WAIT_MS, "start()", resumed.logs);
  const fresh = createBridge(t, dbPath);
  const freshCreated = collectCreated(fresh.bridge, fresh.logs);
  await withTimeout(fresh.bridge.start(), WAIT_MS, "start()", fresh.logs);

  assert.deepEqual(
    resumedCreated.received.map((params) => [params.seq, params.task.clientRequestId]),
    [
      [2, "b"],
      [3, "c"],
    ],
    "events after lastSeenSeq arrive before start() resolves",
  );
  assert.equal(resumed.bridge.lastSeq, 3);
  assert.equal(freshCreated.received.length, 0, "without lastSeenSeq only new events are delivered");
  assert.equal(fresh.bridge.lastSeq, 3);
});

test("seq gap from another sidecar is filled in order", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const other = createBridge(t, dbPath);
  const own = createBridge(t, dbPath);
  const ownCreated = collectCreated(own.bridge, own.logs);
  await withTimeout(other.bridge.start(), WAIT_MS, "start()", other.logs);
  await withTimeout(own.bridge.start(), WAIT_MS, "start()", own.logs);

  await other.bridge.request("create-marketing-task", createParams("from-other"));
  await own.bridge.request("create-marketing-task", createParams("from-own"));
  await ownCreated.waitForCount(2);

  assert.deepEqual(
    ownCreated.received.map((params) => [params.seq, params.task.clientRequestId]),
    [
      [1, "from-other"],
      [2, "from-own"],
    ],
  );
  assert.ok(own.logs.some((entry) => entry.event === "events.gap"));
});

test("SIGKILL during a burst loses and duplicates nothing", async (t) => {
  const burstSize = 120;
  const killAfter = 10;
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath, { restart: { maxAttempts: 3, initialDelayMs: 50 } });
  const created = collectCreated(bridge, logs);
  await withTimeout(bridge.start(), WAIT_MS, "start()", logs);

  const keys = Array.from({ length: burstSize }, (_, index) => `burst-${index}`);
  const firstPid = bridge.pid;
  bridge.onNotification("marketing-task-created", () => {
    if (created.received.length === killAfter) {
      process.kill(firstPid, "SIGKILL");
    }
  });
  const restarts = [];
  bridge.on("restarting", (restart) => restarts.push(restart));
  // "ready" comes after the restarted sidecar's catch-up and before queued
  // requests are written, so this snapshot holds every task committed before the kill.
  let seenAtRestart;
  bridge.once("ready", () => {
    seenAtRestart = new Set(created.received.map((params) => params.task.clientRequestId));
  });

  const outcomes = await withTimeout(
    Promise.all(
      keys.map((key) =>
        bridge.request("create-marketing-task", createParams(key)).then(
          (result) => ({ key, result }),
          (error) => ({ key, error }),
        ),
      ),
    ),
    WAIT_MS,
    "the burst of creates",
    logs,
  );
  const rejected = outcomes.filter((outcome) => outcome.error !== undefined);
  assert.ok(rejected.length > 0, "some creates were in flight at the kill");
  for (const { error } of rejected) {
    assert.ok(error instanceof SidecarExitedError, `${error.name}: ${error.message}`);
    assert.equal(error.retryable, true);
    assert.equal(error.signal, "SIGKILL");
  }
  for (const { result } of outcomes.filter((outcome) => outcome.result !== undefined)) {
    assert.equal(result.replayed, false);
  }

  const retries = await withTimeout(
    Promise.all(rejected.map(({ key }) => bridge.request("create-marketing-task", createParams(key)).then((result) => ({ key, result })))),
    WAIT_MS,
    "the retried creates",
    logs,
  );
  assert.ok(seenAtRestart !== undefined, "the restarted sidecar became ready before the retries were answered");
  for (const { key, result } of retries) {
    assert.equal(result.replayed, seenAtRestart.has(key), `${key}: a create committed before the kill replays, any other is new`);
  }
  await created.waitForCount(burstSize);
  const tasksInFile = await listAllTasks(bridge);

  const deliveredIds = created.received.map((params) => params.task.id);
  assert.equal(new Set(deliveredIds).size, deliveredIds.length, "no task reaches the listener twice");
  assert.deepEqual(
    created.received.map((params) => params.seq),
    Array.from({ length: burstSize }, (_, index) => index + 1),
    "listeners see every seq once, in order",
  );
  assert.equal(tasksInFile.length, burstSize, "every key is stored once");
  assert.deepEqual(new Set(tasksInFile.map((task) => task.id)), new Set(deliveredIds), "every task in the file reached the listener");
  assert.deepEqual(new Set(tasksInFile.map((task) => task.clientRequestId)), new Set(keys));
  assert.equal(restarts.length, 1);
  assert.notEqual(bridge.pid, firstPid);
  t.diagnostic(`${rejected.length} creates rejected at the kill, ${retries.filter(({ result }) => result.replayed).length} of them replayed`);
});

test("restart gives up after the maximum attempts", async (t) => {
  const dbPath = path.join(await temporaryFolder(t), "marketing.db");
  const { bridge, logs } = createBridge(t, dbPath, { restart: { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 1000 } });
  await withTimeout(bridge.start(), WAIT_MS, "start()", logs);
  const restarts = [];
  bridge.on("restarting", (restart) => restarts.push(restart));
  // Every restarted sidecar is killed as soon as it is ready; it never stays
  // up for resetAfterMs, so the attempts add up.
  bridge.on("ready", () => process.kill(bridge.pid, "SIGKILL"));
  const failed = nextEvent(bridge, "failed", logs);

  process.kill(bridge.pid, "SIGKILL");
  const error = await failed;

  assert.ok(error instanceof SidecarUnavailableError);
  assert.deepEqual(restarts, [
    { attempt: 1, delayMs: 20 },
    { attempt: 2, delayMs: 40 },
  ]);
  assert.equal(bridge.state, "failed");
  await assert.rejects(bridge.request("get-status", {}), SidecarUnavailableError);
});
