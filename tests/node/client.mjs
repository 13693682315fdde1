// Drive the sidecar the way the Electron main process does: spawn it with
// stdio pipes, speak Content-Length framed JSON-RPC through vscode-jsonrpc,
// wait for sidecar-ready, create a task, receive its notification, shut down.
//
// Usage: SIDECAR_COMMAND='["python", "-m", "sidecar"]' node client.mjs DB_PATH
// Prints one JSON line with what it saw and exits 0, or prints the failure
// (with the sidecar's stderr tail) and exits 1.

import { spawn } from "node:child_process";
import jsonrpc from "vscode-jsonrpc/node";

const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = jsonrpc;

const TIMEOUT_MS = 30_000;
const TASK_NAME = "Node 客户端 😀";

function check(condition, message) {
  if (!condition) {
    throw new Error(`check failed: ${message}`);
  }
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function startSidecar(dbPath) {
  const [command, ...args] = JSON.parse(process.env.SIDECAR_COMMAND);
  const child = spawn(command, [...args, "--db", dbPath, "--framing", "content-length"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  // The shell must drain stderr, as Electron does, or the sidecar's logs
  // would fill the pipe.
  const stderrLines = [];
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => stderrLines.push(...chunk.split("\n").filter(Boolean)));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, stderrLines, exited };
}

async function run(dbPath, sidecar) {
  const connection = createMessageConnection(
    new StreamMessageReader(sidecar.child.stdout),
    new StreamMessageWriter(sidecar.child.stdin),
  );
  const ready = new Promise((resolve) => connection.onNotification("sidecar-ready", resolve));
  const created = new Promise((resolve) => connection.onNotification("marketing-task-created", resolve));
  connection.listen();

  const readyParams = await withTimeout(ready, "sidecar-ready");
  check(readyParams.pid === sidecar.child.pid, `sidecar-ready pid ${readyParams.pid} is the child's`);

  const params = { name: TASK_NAME, audience: { source: "recent" }, clientRequestId: "node-client-1" };
  const result = await withTimeout(connection.sendRequest("create-marketing-task", params), "the create response");
  check(result.success === true && result.replayed === false, `create succeeded: ${JSON.stringify(result)}`);
  check(result.task.name === TASK_NAME, `task name round-trips: ${result.task.name}`);

  const notification = await withTimeout(created, "marketing-task-created");
  check(notification.task.id === result.task.id, "the notification is about the created task");

  const replay = await withTimeout(connection.sendRequest("create-marketing-task", params), "the replayed create");
  check(replay.replayed === true && replay.task.id === result.task.id, `replay returns the same task: ${JSON.stringify(replay)}`);

  let rejected = null;
  try {
    await withTimeout(connection.sendRequest("create-marketing-task", { ...params, name: "   " }), "the invalid create");
  } catch (error) {
    rejected = error;
  }
  check(rejected !== null && rejected.code === -32602, `a blank name is rejected with -32602: ${rejected}`);
  check(rejected.data.error.code === "VALIDATION_FAILED", "the error carries ErrorInfo");

  const shutdown = await withTimeout(connection.sendRequest("shutdown"), "the shutdown response");
  check(shutdown.success === true, "shutdown succeeded");
  const { code, signal } = await withTimeout(sidecar.exited, "the sidecar to exit");
  check(code === 0, `sidecar exited with code ${code} (signal ${signal})`);
  connection.dispose();

  return { taskId: result.task.id, seq: notification.seq, name: result.task.name, exitCode: code };
}

async function main() {
  const dbPath = process.argv[2];
  check(Boolean(dbPath && process.env.SIDECAR_COMMAND), "usage: SIDECAR_COMMAND=<JSON list> node client.mjs DB_PATH");
  const sidecar = startSidecar(dbPath);
  try {
    const summary = await run(dbPath, sidecar);
    process.stdout.write(JSON.stringify(summary) + "\n");
    process.exit(0);
  } catch (error) {
    sidecar.child.kill();
    process.stderr.write(`${error.stack}\nsidecar stderr tail:\n${sidecar.stderrLines.slice(-10).join("\n")}\n`);
    process.exit(1);
  }
}

main();
