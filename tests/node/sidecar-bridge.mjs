// The reference integration of the sidecar in the Electron main process.
//
// SidecarBridge spawns the sidecar on the app's database (NDJSON over stdio
// pipes), drains its stderr into a log sink, reports sidecar-ready or
// sidecar-degraded, correlates requests by id with a timeout each, and
// forwards notifications to listeners. When the sidecar dies unexpectedly the
// bridge restarts it with exponential backoff, up to a maximum number of
// attempts, and calls list-events from the last seq it delivered, so that
// marketing-task-created listeners see every task once, in seq order.
//
// Requests that were in flight when the sidecar died are rejected with a
// SidecarExitedError: the sidecar may or may not have committed them, so the
// bridge does not resend them. Retry a create with the same clientRequestId;
// the sidecar then returns the stored task with replayed: true instead of
// creating a second one.
//
//   const bridge = new SidecarBridge({
//     command: [path.join(process.resourcesPath, "marketing-sidecar", "marketing-sidecar")],
//     dbPath: path.join(app.getPath("userData"), "marketing.db"),
//     log: (entry) => logFile.write(JSON.stringify(entry) + "\n"),
//   });
//   bridge.onNotification("marketing-task-created", (params) => mainWindow.webContents.send("task-created", params));
//   await bridge.start();            // rejects with SidecarDegradedError carrying ErrorInfo
//   const { task } = await bridge.request("create-marketing-task", params);
//   app.on("will-quit", () => bridge.stop());

import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import readline from "node:readline";

/** @typedef {import("../../schemas/typescript/index.js").MethodMap} MethodMap */
/** @typedef {import("../../schemas/typescript/index.js").NotificationMap} NotificationMap */
/** @typedef {import("../../schemas/typescript/index.js").ErrorInfo} ErrorInfo */
/** @typedef {import("../../schemas/typescript/index.js").RpcErrorObject} RpcErrorObject */
/** @typedef {import("../../schemas/typescript/index.js").SidecarReadyParams} SidecarReadyParams */
/** @typedef {import("../../schemas/typescript/index.js").SidecarDegradedParams} SidecarDegradedParams */
/** @typedef {import("../../schemas/typescript/index.js").ListEventsResult} ListEventsResult */

/**
 * Options of a SidecarBridge.
 *
 * @typedef {object} BridgeOptions
 * @property {string[]} command Executable and its leading arguments, such as ["/app/marketing-sidecar"] or ["python", "-m", "sidecar"].
 * @property {string} dbPath SQLite file to serve, passed as --db (in Electron, a file under app.getPath("userData")).
 * @property {string[]} [args] Further sidecar flags, such as ["--locale", "en"].
 * @property {NodeJS.ProcessEnv} [env] Environment of the sidecar; the bridge's own environment by default.
 * @property {(entry: LogEntry) => void} [log] Sink for the sidecar's stderr lines and the bridge's own records; discarded by default, but stderr is always drained.
 * @property {number} [requestTimeoutMs] Default time a request may take, counted from the request() call, in milliseconds (30000).
 * @property {number} [bootTimeoutMs] Time a booting sidecar may stay silent before it is killed, in milliseconds (60000); each migration-progress notification restarts the count.
 * @property {number} [stopTimeoutMs] Time stop() waits for a clean exit before it kills the sidecar, in milliseconds (10000).
 * @property {number} [maxMessageBytes] Largest request in bytes, passed as --max-message-bytes; a larger request is rejected without being sent (1048576, the sidecar's default).
 * @property {number} [lastSeenSeq] Highest marketing-task-created seq the app has already handled; start() delivers every later event. When omitted, delivery starts after the newest stored event.
 * @property {RestartOptions} [restart] Restart policy after an unexpected exit.
 */

/**
 * Restart policy: attempt n waits min(initialDelayMs * 2^(n-1), maxDelayMs).
 *
 * @typedef {object} RestartOptions
 * @property {number} [maxAttempts] Consecutive restarts before the bridge gives up and emits "failed" (5).
 * @property {number} [initialDelayMs] Delay before the first restart, in milliseconds (250).
 * @property {number} [maxDelayMs] Upper bound of the delay, in milliseconds (30000).
 * @property {number} [resetAfterMs] A sidecar that stayed up this long since its boot resets the attempt count, in milliseconds (60000).
 */

/**
 * A record for the log sink: a sidecar stderr line (itself a JSON log record) or a bridge event.
 *
 * @typedef {{source: "sidecar", pid: number | undefined, line: string}
 *   | {source: "bridge", level: "info" | "warning" | "error", event: string, message: string, [key: string]: unknown}} LogEntry
 */

/**
 * One running sidecar process and its state in the bridge.
 *
 * @typedef {object} Session
 * @property {import("node:child_process").ChildProcessWithoutNullStreams} child
 * @property {boolean} booted True once sidecar-ready or sidecar-degraded arrived.
 * @property {boolean} closed
 * @property {boolean} shutdownRequested True once a shutdown request was written, so that its exit is expected.
 * @property {number} bootedAt Time of the boot notification, from Date.now().
 * @property {NodeJS.Timeout | undefined} bootTimer
 * @property {Error | undefined} failure Why the bridge killed or lost the process, if it knows.
 */

/**
 * A request on its way: queued until a sidecar is usable, then pending until its response.
 *
 * @typedef {object} Outgoing
 * @property {number} id
 * @property {string} method
 * @property {string} line The NDJSON line to write.
 * @property {(result: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {NodeJS.Timeout | undefined} timer
 * @property {Session | undefined} session The sidecar the request was written to.
 */

const DEFAULTS = {
  requestTimeoutMs: 30_000,
  bootTimeoutMs: 60_000,
  stopTimeoutMs: 10_000,
  maxMessageBytes: 1024 * 1024,
};

const RESTART_DEFAULTS = {
  maxAttempts: 5,
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
};

// list-events accepts at most 500 events per call.
const CATCH_UP_PAGE = 500;

const TASK_CREATED = "marketing-task-created";

// --- errors --------------------------------------------------------------------

/** Base class of every rejection from the bridge. retryable is true when the same call may succeed later. */
export class SidecarError extends Error {
  /**
   * @param {string} message
   * @param {{retryable: boolean, cause?: unknown}} options
   */
  constructor(message, { retryable, cause }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.retryable = retryable;
  }
}

/** A JSON-RPC error response from the sidecar, with its ErrorInfo. */
export class SidecarRequestError extends SidecarError {
  /**
   * @param {string} method
   * @param {RpcErrorObject} error
   */
  constructor(method, error) {
    const info = error.data?.error;
    super(`${method} failed: ${info?.code ?? error.code}: ${info?.message ?? error.message}`, { retryable: info?.retryable ?? false });
    this.method = method;
    this.rpcCode = error.code;
    /** Stable error code, such as NOT_FOUND or DATABASE_BUSY. */
    this.code = info?.code;
    /** @type {ErrorInfo | undefined} */
    this.info = info;
  }
}

/** No response within the request's timeout; the sidecar may still complete the call. */
export class SidecarTimeoutError extends SidecarError {
  /**
   * @param {string} method
   * @param {number} timeoutMs
   */
  constructor(method, timeoutMs) {
    super(`${method} timed out after ${timeoutMs} ms`, { retryable: true });
    this.method = method;
    this.timeoutMs = timeoutMs;
  }
}

/** The sidecar exited while the request was in flight; it may or may not have been committed. */
export class SidecarExitedError extends SidecarError {
  /**
   * @param {string} method
   * @param {number | null} exitCode
   * @param {NodeJS.Signals | null} signal
   * @param {unknown} [cause]
   */
  constructor(method, exitCode, signal, cause) {
    super(`the sidecar exited (code ${exitCode}, signal ${signal}) before it answered ${method}`, { retryable: true, cause });
    this.method = method;
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** The bridge cannot send the request: it is not started, stopped, or gave up restarting. */
export class SidecarUnavailableError extends SidecarError {
  /** @param {string} message */
  constructor(message) {
    super(message, { retryable: false });
  }
}

/** The sidecar booted degraded; info is the ErrorInfo of sidecar-degraded. */
export class SidecarDegradedError extends SidecarError {
  /** @param {SidecarDegradedParams} params */
  constructor(params) {
    super(`the sidecar booted degraded: ${params.error.code}: ${params.error.message}`, { retryable: params.error.retryable });
    this.code = params.error.code;
    this.info = params.error;
    this.dbPath = params.dbPath;
  }
}

// --- the bridge ------------------------------------------------------------------

/**
 * Lifecycle events: "ready" (SidecarReadyParams), "degraded" (SidecarDegradedParams),
 * "exit" ({pid, code, signal, expected}), "restarting" ({attempt, delayMs}) and
 * "failed" (SidecarUnavailableError) once the restart attempts are used up.
 */
export class SidecarBridge extends EventEmitter {
  /** @type {Required<Omit<BridgeOptions, "lastSeenSeq" | "restart" | "env">> & {env: NodeJS.ProcessEnv | undefined}} */
  #options;
  /** @type {Required<RestartOptions>} */
  #restart;
  /** @type {"idle" | "starting" | "ready" | "degraded" | "restarting" | "failed" | "stopping" | "stopped"} */
  #state = "idle";
  /** @type {Session | undefined} */
  #session;
  /** @type {Map<number, Outgoing>} */
  #pending = new Map();
  /** @type {Outgoing[]} */
  #queue = [];
  #nextId = 1;
  /** Highest marketing-task-created seq delivered to listeners; null until the first boot settles it. @type {number | null} */
  #lastSeq;
  /** Serializes event delivery and catch-up so that listeners see seqs in order. @type {Promise<void>} */
  #deliveries = Promise.resolve();
  /** @type {Map<string, Set<(params: any) => void>>} */
  #listeners = new Map();
  #restartAttempts = 0;
  /** @type {NodeJS.Timeout | undefined} */
  #restartTimer;
  /** @type {{resolve: (params: SidecarReadyParams) => void, reject: (error: Error) => void} | undefined} */
  #startWaiter;
  /** @type {((exit: {code: number | null, signal: NodeJS.Signals | null}) => void) | undefined} */
  #stopWaiter;
  /** @type {Promise<{code: number | null, signal: NodeJS.Signals | null}> | undefined} */
  #stopping;

  /** @param {BridgeOptions} options */
  constructor(options) {
    super();
    if (!Array.isArray(options.command) || options.command.length === 0) {
      throw new TypeError("options.command must be a non-empty array: the executable and its leading arguments");
    }
    if (typeof options.dbPath !== "string" || options.dbPath === "") {
      throw new TypeError("options.dbPath must be the path of the SQLite file");
    }
    this.#options = {
      command: options.command,
      dbPath: options.dbPath,
      args: options.args ?? [],
      env: options.env,
      log: options.log ?? (() => {}),
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      bootTimeoutMs: options.bootTimeoutMs ?? DEFAULTS.bootTimeoutMs,
      stopTimeoutMs: options.stopTimeoutMs ?? DEFAULTS.stopTimeoutMs,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
    };
    this.#restart = { ...RESTART_DEFAULTS, ...options.restart };
    this.#lastSeq = options.lastSeenSeq ?? null;
  }

  /** Bridge state: idle, starting, ready, degraded, restarting, failed, stopping or stopped. */
  get state() {
    return this.#state;
  }

  /** Process id of the current sidecar, if one is running. */
  get pid() {
    return this.#session?.closed === false ? this.#session.child.pid : undefined;
  }

  /** Highest marketing-task-created seq delivered to listeners; persist it and pass it back as lastSeenSeq. */
  get lastSeq() {
    return this.#lastSeq;
  }

  /**
   * Spawn the sidecar and resolve with the sidecar-ready params once events
   * after lastSeenSeq have been delivered. Rejects with SidecarDegradedError
   * when the sidecar boots degraded, in which case it keeps running and serves
   * get-status. Rejects with SidecarExitedError or SidecarTimeoutError when
   * the sidecar exits or stays silent before booting, without restarting it.
   *
   * @returns {Promise<SidecarReadyParams>}
   */
  start() {
    if (!["idle", "failed", "stopped"].includes(this.#state)) {
      return Promise.reject(new SidecarUnavailableError(`start() called while the bridge is ${this.#state}`));
    }
    this.#state = "starting";
    this.#stopping = undefined;
    this.#restartAttempts = 0;
    return new Promise((resolve, reject) => {
      this.#startWaiter = { resolve, reject };
      this.#spawnSession();
    });
  }

  /**
   * Send a request and resolve with its result. Requests made while the
   * sidecar boots or restarts wait for it, within their timeout.
   *
   * @template {keyof MethodMap} M
   * @param {M} method
   * @param {MethodMap[M]["params"]} params
   * @param {{timeoutMs?: number}} [options]
   * @returns {Promise<MethodMap[M]["result"]>}
   */
  request(method, params, options = {}) {
    const unavailable = this.#unavailableReason();
    if (unavailable !== undefined) {
      return Promise.reject(new SidecarUnavailableError(`cannot send ${method}: ${unavailable}`));
    }
    const id = this.#nextId++;
    const line = JSON.stringify({ jsonrpc: "2.0", id, method, params });
    const size = Buffer.byteLength(line, "utf8");
    if (size > this.#options.maxMessageBytes) {
      return Promise.reject(
        new SidecarError(`${method} request is ${size} bytes, more than maxMessageBytes ${this.#options.maxMessageBytes}; split it or raise the limit`, { retryable: false }),
      );
    }

    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      /** @type {Outgoing} */
      const outgoing = { id, method, line, resolve, reject, timer: undefined, session: undefined };
      outgoing.timer = setTimeout(() => this.#expire(outgoing, timeoutMs), timeoutMs);
      if (this.#state === "ready" || this.#state === "degraded") {
        this.#write(/** @type {Session} */ (this.#session), outgoing);
      } else {
        this.#queue.push(outgoing);
      }
    });
  }

  /**
   * Register a handler for one notification method; returns a function that removes it.
   * marketing-task-created handlers see each seq once, in order, across restarts.
   *
   * @template {keyof NotificationMap} N
   * @param {N} method
   * @param {(params: NotificationMap[N]) => void} handler
   * @returns {() => void}
   */
  onNotification(method, handler) {
    const handlers = this.#listeners.get(method) ?? new Set();
    handlers.add(handler);
    this.#listeners.set(method, handlers);
    return () => handlers.delete(handler);
  }

  /**
   * Close the sidecar's stdin so that it responds to what it has read and
   * exits 0, and kill it if it has not exited within stopTimeoutMs. Queued requests are
   * rejected with SidecarUnavailableError. A sidecar that exits after a
   * shutdown request is not restarted either. Calls made while a stop is
   * under way return the same promise.
   *
   * @returns {Promise<{code: number | null, signal: NodeJS.Signals | null}>}
   */
  stop() {
    this.#stopping ??= this.#stopSession();
    return this.#stopping;
  }

  // --- process lifecycle -----------------------------------------------------------

  /** @returns {Promise<{code: number | null, signal: NodeJS.Signals | null}>} */
  async #stopSession() {
    clearTimeout(this.#restartTimer);
    const session = this.#session;
    this.#state = "stopping";
    this.#rejectQueue("the bridge is stopping");
    this.#startWaiter?.reject(new SidecarUnavailableError("stop() was called before the sidecar booted"));
    this.#startWaiter = undefined;
    if (session === undefined || session.closed) {
      this.#state = "stopped";
      return { code: null, signal: null };
    }

    const exited = new Promise((resolve) => {
      this.#stopWaiter = resolve;
    });
    session.child.stdin.end();
    const killTimer = setTimeout(() => {
      this.#log("warning", "stop.kill", `the sidecar did not exit within ${this.#options.stopTimeoutMs} ms of closing stdin; killing it`, { pid: session.child.pid });
      session.child.kill("SIGKILL");
    }, this.#options.stopTimeoutMs);
    try {
      return /** @type {{code: number | null, signal: NodeJS.Signals | null}} */ (await exited);
    } finally {
      clearTimeout(killTimer);
    }
  }

  #spawnSession() {
    const [executable, ...leadingArgs] = this.#options.command;
    const args = [...leadingArgs, "--db", this.#options.dbPath, "--max-message-bytes", String(this.#options.maxMessageBytes), ...this.#options.args];
    const child = spawn(executable, args, { stdio: ["pipe", "pipe", "pipe"], env: this.#options.env, windowsHide: true });

    /** @type {Session} */
    const session = { child, booted: false, closed: false, shutdownRequested: false, bootedAt: 0, bootTimer: undefined, failure: undefined };
    this.#session = session;
    this.#log("info", "sidecar.spawned", `spawned the sidecar on ${this.#options.dbPath}`, { pid: child.pid });

    session.bootTimer = setTimeout(() => {
      session.failure = new SidecarTimeoutError("sidecar-ready", this.#options.bootTimeoutMs);
      this.#log("error", "sidecar.boot_timeout", `no sidecar-ready or sidecar-degraded within ${this.#options.bootTimeoutMs} ms; killing the sidecar`, { pid: child.pid });
      child.kill("SIGKILL");
    }, this.#options.bootTimeoutMs);

    // The sidecar blocks once a pipe buffer is full, so stderr is read even when the log sink discards it.
    readline.createInterface({ input: child.stderr, crlfDelay: Infinity }).on("line", (line) => {
      this.#safeLog({ source: "sidecar", pid: child.pid, line });
    });
    readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on("line", (line) => this.#receive(session, line));

    child.stdin.on("error", (error) => {
      // EPIPE after the sidecar died; the close handler rejects what was pending.
      this.#log("warning", "sidecar.stdin_error", `writing to the sidecar failed: ${error.message}`, { pid: child.pid });
    });
    child.on("error", (error) => {
      session.failure ??= error;
      this.#log("error", "sidecar.spawn_error", `the sidecar process failed: ${error.message}`, { command: this.#options.command });
    });
    // "close" comes after stdout has ended, so every response the sidecar wrote has been handled by then.
    child.on("close", (code, signal) => this.#handleClose(session, code, signal));
  }

  /**
   * @param {Session} session
   * @param {number | null} code
   * @param {NodeJS.Signals | null} signal
   */
  #handleClose(session, code, signal) {
    session.closed = true;
    clearTimeout(session.bootTimer);
    for (const outgoing of [...this.#pending.values()]) {
      if (outgoing.session === session) {
        this.#settle(outgoing, undefined, new SidecarExitedError(outgoing.method, code, signal, session.failure));
      }
    }
    if (session !== this.#session) {
      return;
    }

    const expected = this.#state === "stopping" || session.shutdownRequested;
    this.#log(expected ? "info" : "error", "sidecar.exited", `the sidecar exited with code ${code}, signal ${signal}`, { pid: session.child.pid, code, signal });
    this.emit("exit", { pid: session.child.pid, code, signal, expected });

    if (expected) {
      this.#state = "stopped";
      this.#stopWaiter?.({ code, signal });
      this.#stopWaiter = undefined;
      return;
    }
    if (this.#startWaiter !== undefined) {
      this.#failStart(session.failure instanceof SidecarTimeoutError ? session.failure : new SidecarExitedError("sidecar-ready", code, signal, session.failure));
      return;
    }
    this.#scheduleRestart(code, signal);
  }

  /**
   * @param {number | null} code
   * @param {NodeJS.Signals | null} signal
   */
  #scheduleRestart(code, signal) {
    const lastBootedAt = this.#session?.bootedAt ?? 0;
    if (lastBootedAt > 0 && Date.now() - lastBootedAt >= this.#restart.resetAfterMs) {
      this.#restartAttempts = 0;
    }
    this.#restartAttempts += 1;
    const attempt = this.#restartAttempts;
    if (attempt > this.#restart.maxAttempts) {
      const error = new SidecarUnavailableError(`the sidecar exited (code ${code}, signal ${signal}) and ${this.#restart.maxAttempts} restarts did not keep it running`);
      this.#state = "failed";
      this.#log("error", "sidecar.restart_failed", error.message, { attempts: this.#restart.maxAttempts });
      this.#rejectQueue(error.message);
      this.emit("failed", error);
      return;
    }

    const delayMs = Math.min(this.#restart.initialDelayMs * 2 ** (attempt - 1), this.#restart.maxDelayMs);
    this.#state = "restarting";
    this.#log("warning", "sidecar.restarting", `restarting the sidecar in ${delayMs} ms (attempt ${attempt} of ${this.#restart.maxAttempts})`, { attempt, delayMs });
    this.emit("restarting", { attempt, delayMs });
    this.#restartTimer = setTimeout(() => this.#spawnSession(), delayMs);
  }

  /** @param {Error} error */
  #failStart(error) {
    this.#state = "failed";
    this.#rejectQueue(error.message);
    this.#startWaiter?.reject(error);
    this.#startWaiter = undefined;
  }

  // --- boot and catch-up --------------------------------------------------------------

  /**
   * @param {Session} session
   * @param {SidecarReadyParams} params
   */
  #handleReady(session, params) {
    clearTimeout(session.bootTimer);
    session.booted = true;
    session.bootedAt = Date.now();
    this.#enqueueDelivery(async () => {
      await this.#catchUp(session);
      if (session !== this.#session || session.closed || this.#state === "stopping") {
        return;
      }
      this.#state = "ready";
      this.#log("info", "sidecar.ready", "the sidecar is ready", { pid: params.pid, lastSeq: this.#lastSeq });
      this.#flushQueue(session);
      this.emit("ready", params);
      this.#startWaiter?.resolve(params);
      this.#startWaiter = undefined;
    });
  }

  /**
   * @param {Session} session
   * @param {SidecarDegradedParams} params
   */
  #handleDegraded(session, params) {
    clearTimeout(session.bootTimer);
    session.booted = true;
    session.bootedAt = Date.now();
    this.#state = "degraded";
    this.#log("error", "sidecar.degraded", `the sidecar booted degraded: ${params.error.code}`, { code: params.error.code, dbPath: params.dbPath });
    // Data methods now fail at once with DATABASE_NOT_READY, which gives the caller more to act on than a timeout.
    this.#flushQueue(session);
    this.emit("degraded", params);
    this.#startWaiter?.reject(new SidecarDegradedError(params));
    this.#startWaiter = undefined;
  }

  /**
   * Deliver every stored event after lastSeq, page by page. At the first boot
   * without lastSeenSeq, only record where the stored events end.
   *
   * @param {Session} session
   */
  async #catchUp(session) {
    try {
      if (this.#lastSeq === null) {
        const first = await this.#call(session, "list-events", { afterSeq: 0, limit: 1 });
        this.#lastSeq = first.lastSeq;
        return;
      }
      for (;;) {
        const page = await this.#call(session, "list-events", { afterSeq: this.#lastSeq, limit: CATCH_UP_PAGE });
        for (const event of page.events) {
          this.#deliverEvent(event.type, { ...event.payload, seq: event.seq });
        }
        if (page.events.length < CATCH_UP_PAGE || this.#lastSeq >= page.lastSeq) {
          return;
        }
      }
    } catch (error) {
      // A sidecar that died here is restarted and catches up again. An error
      // response leaves lastSeq where it is, so the next gap in seqs retries.
      this.#log("error", "events.catch_up_failed", `list-events failed: ${errorMessage(error)}`, { lastSeq: this.#lastSeq });
    }
  }

  /**
   * @param {Session} session
   * @param {{seq: number}} params
   */
  async #deliverLive(session, params) {
    const lastSeq = this.#lastSeq;
    if (lastSeq !== null && params.seq > lastSeq + 1) {
      if (session.closed) {
        // The next sidecar's boot catch-up delivers the missing events and this one in order.
        return;
      }
      // Another process on the same file created tasks in between, or an
      // earlier catch-up failed, so the missing events are fetched first.
      this.#log("warning", "events.gap", `marketing-task-created seq ${params.seq} follows ${lastSeq}; catching up`, { seq: params.seq, lastSeq });
      await this.#catchUp(session);
    }
    this.#deliverEvent(TASK_CREATED, params);
  }

  /**
   * Hand an event to the listeners unless its seq was delivered already.
   *
   * @param {string} method
   * @param {{seq: number}} params
   */
  #deliverEvent(method, params) {
    if (this.#lastSeq !== null && params.seq <= this.#lastSeq) {
      return;
    }
    this.#lastSeq = params.seq;
    this.#dispatch(method, params);
  }

  /** @param {() => Promise<void>} step */
  #enqueueDelivery(step) {
    this.#deliveries = this.#deliveries.then(step).catch((error) => {
      this.#log("error", "events.delivery_failed", `delivering events failed: ${errorMessage(error)}`, {});
    });
  }

  // --- messages ----------------------------------------------------------------------

  /**
   * @param {Session} session
   * @param {string} line
   */
  #receive(session, line) {
    if (line.trim() === "") {
      return;
    }
    let message;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.#log("error", "protocol.invalid_json", `the sidecar wrote a line that is not JSON: ${errorMessage(error)}`, { pid: session.child.pid, length: line.length });
      return;
    }
    if (typeof message?.method === "string") {
      this.#receiveNotification(session, message.method, message.params);
    } else if (message?.id !== undefined && message.id !== null) {
      this.#receiveResponse(message);
    } else {
      // An error with id null: the sidecar could not read some message we wrote.
      this.#log("error", "protocol.error_without_id", `the sidecar rejected a message: ${message?.error?.message}`, { code: message?.error?.data?.error?.code });
    }
  }

  /**
   * @param {Session} session
   * @param {string} method
   * @param {any} params
   */
  #receiveNotification(session, method, params) {
    if (method === "sidecar-ready") {
      this.#dispatch(method, params);
      this.#handleReady(session, params);
    } else if (method === "sidecar-degraded") {
      this.#dispatch(method, params);
      this.#handleDegraded(session, params);
    } else if (method === TASK_CREATED) {
      this.#enqueueDelivery(() => this.#deliverLive(session, params));
    } else {
      if (method === "migration-progress" && !session.booted) {
        // A long migration is progress, not silence.
        session.bootTimer?.refresh();
      }
      this.#dispatch(method, params);
    }
  }

  /** @param {{id: number, result?: unknown, error?: RpcErrorObject}} message */
  #receiveResponse(message) {
    const outgoing = this.#pending.get(message.id);
    if (outgoing === undefined) {
      this.#log("warning", "protocol.late_response", `response to request ${message.id} arrived after it timed out`, { id: message.id });
      return;
    }
    if (message.error !== undefined) {
      this.#settle(outgoing, undefined, new SidecarRequestError(outgoing.method, message.error));
    } else {
      this.#settle(outgoing, message.result, undefined);
    }
  }

  /**
   * @param {string} method
   * @param {unknown} params
   */
  #dispatch(method, params) {
    for (const handler of this.#listeners.get(method) ?? []) {
      try {
        handler(params);
      } catch (error) {
        this.#log("error", "listener.failed", `a ${method} listener threw: ${errorMessage(error)}`, { method });
      }
    }
  }

  // --- requests ----------------------------------------------------------------------

  /**
   * Send a request to one session directly, past the queue; used while booting.
   *
   * @template {keyof MethodMap} M
   * @param {Session} session
   * @param {M} method
   * @param {MethodMap[M]["params"]} params
   * @returns {Promise<MethodMap[M]["result"]>}
   */
  #call(session, method, params) {
    const id = this.#nextId++;
    const line = JSON.stringify({ jsonrpc: "2.0", id, method, params });
    const timeoutMs = this.#options.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      /** @type {Outgoing} */
      const outgoing = { id, method, line, resolve, reject, timer: undefined, session: undefined };
      outgoing.timer = setTimeout(() => this.#expire(outgoing, timeoutMs), timeoutMs);
      this.#write(session, outgoing);
    });
  }

  /**
   * @param {Session} session
   * @param {Outgoing} outgoing
   */
  #write(session, outgoing) {
    outgoing.session = session;
    this.#pending.set(outgoing.id, outgoing);
    if (session.closed) {
      this.#settle(outgoing, undefined, new SidecarExitedError(outgoing.method, session.child.exitCode, session.child.signalCode));
      return;
    }
    if (outgoing.method === "shutdown") {
      session.shutdownRequested = true;
    }
    session.child.stdin.write(outgoing.line + "\n");
  }

  /** @param {Session} session */
  #flushQueue(session) {
    const queued = this.#queue;
    this.#queue = [];
    for (const outgoing of queued) {
      this.#write(session, outgoing);
    }
  }

  /** @param {string} reason */
  #rejectQueue(reason) {
    const queued = this.#queue;
    this.#queue = [];
    for (const outgoing of queued) {
      this.#settle(outgoing, undefined, new SidecarUnavailableError(`cannot send ${outgoing.method}: ${reason}`));
    }
  }

  /**
   * @param {Outgoing} outgoing
   * @param {number} timeoutMs
   */
  #expire(outgoing, timeoutMs) {
    this.#queue = this.#queue.filter((entry) => entry !== outgoing);
    this.#log("warning", "request.timeout", `${outgoing.method} request ${outgoing.id} timed out after ${timeoutMs} ms`, { id: outgoing.id, method: outgoing.method });
    this.#settle(outgoing, undefined, new SidecarTimeoutError(outgoing.method, timeoutMs));
  }

  /**
   * @param {Outgoing} outgoing
   * @param {unknown} result
   * @param {Error | undefined} error
   */
  #settle(outgoing, result, error) {
    clearTimeout(outgoing.timer);
    this.#pending.delete(outgoing.id);
    if (error !== undefined) {
      outgoing.reject(error);
    } else {
      outgoing.resolve(result);
    }
  }

  /** @returns {string | undefined} */
  #unavailableReason() {
    switch (this.#state) {
      case "idle":
        return "the bridge is not started; call start() first";
      case "failed":
        return "the sidecar could not be started; call start() again";
      case "stopping":
      case "stopped":
        return "the bridge is stopped";
      default:
        return undefined;
    }
  }

  // --- logging -------------------------------------------------------------------------

  /**
   * @param {"info" | "warning" | "error"} level
   * @param {string} event
   * @param {string} message
   * @param {Record<string, unknown>} details
   */
  #log(level, event, message, details) {
    this.#safeLog({ source: "bridge", level, event, message, ...details });
  }

  /** @param {LogEntry} entry */
  #safeLog(entry) {
    try {
      this.#options.log(entry);
    } catch {
      // A failing log sink must not break the pipe handling; there is nowhere left to report it.
    }
  }
}

/** @param {unknown} error */
function errorMessage(error) {
  return error instanceof Error ? error.message : String(error);
}
