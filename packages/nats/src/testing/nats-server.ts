import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, SlotwiseError } from "@slotwise/events";

/** Where the test servers come from unless `binary` or `NATS_SERVER_BIN` says otherwise. */
export const DEFAULT_NATS_SERVER_BIN = "/usr/sbin/nats-server";
export const DEFAULT_NATS_SERVER_START_TIMEOUT_MS = 15_000;

export interface NatsServerOptions {
  /** Loopback port. @default a free one, chosen at start and kept across restarts */
  port?: number;
  /** JetStream store directory, kept across restarts. @default a new temporary directory, removed by `dispose()` */
  storeDir?: string;
  /** @default process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server" */
  binary?: string;
  /** @default 15000 */
  startTimeoutMs?: number;
}

/** A `nats-server -js` of a test's own: stop it, start it again on the same port and store. */
export interface NatsServerProcess {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The server's process id while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Stops the server and waits for its exit; SIGTERM shuts JetStream down cleanly, SIGKILL does not. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again (same port, same store); resolves once it is ready for clients. */
  start(): Promise<void>;
  /** Stops it and removes the store directory it created. Idempotent. */
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

class ServerProcess implements NatsServerProcess {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly #binary: string;
  readonly #startTimeoutMs: number;
  readonly #ownsStore: boolean;
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #disposed = false;

  constructor(port: number, storeDir: string, ownsStore: boolean, binary: string, startTimeoutMs: number) {
    this.port = port;
    this.storeDir = storeDir;
    this.url = `nats://127.0.0.1:${port}`;
    this.#ownsStore = ownsStore;
    this.#binary = binary;
    this.#startTimeoutMs = startTimeoutMs;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  start(): Promise<void> {
    if (this.#disposed)
      return Promise.reject(new SlotwiseError(ErrorCode.CLOSED, "the test server was disposed"));
    if (this.#child) return Promise.resolve();
    const child = spawn(
      this.#binary,
      [
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        String(this.port),
        "-sd",
        this.storeDir,
        "-n",
        `slotwise-test-${this.port}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.#child = child;
    this.#exited = new Promise<void>((resolve) => {
      child.once("exit", () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    let log = "";
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        child.kill("SIGKILL");
        reject(
          new SlotwiseError(
            ErrorCode.TIMEOUT,
            `nats-server on port ${this.port} not ready: ${log.slice(-2000)}`,
          ),
        );
      }, this.#startTimeoutMs);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        // Printed once JetStream has recovered its store and the client port listens.
        if (log.includes("Server is ready")) {
          done();
          resolve();
        }
      };
      const onExit = (code: number | null) => {
        done();
        reject(
          new SlotwiseError(
            ErrorCode.UNAVAILABLE,
            `nats-server exited (${code}) at start: ${log.slice(-2000)}`,
          ),
        );
      };
      const onError = (err: Error) => {
        done();
        reject(
          new SlotwiseError(ErrorCode.UNAVAILABLE, `cannot start ${this.#binary}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      const done = () => {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        child.off("exit", onExit);
        child.off("error", onError);
        // keep draining the pipe so the server never blocks on a full stderr
        child.stderr?.resume();
      };
      child.stderr?.on("data", onData);
      child.once("exit", onExit);
      child.once("error", onError);
    });
  }

  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill(signal);
    await this.#exited;
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop("SIGKILL");
    if (this.#ownsStore) await rm(this.storeDir, { recursive: true, force: true });
  }
}

/**
 * Starts a `nats-server -js` on a loopback port with its own store, for tests that stop and restart a
 * broker (never the shared one). Kill it with `dispose()`.
 *
 * ```ts
 * const server = await startNatsServer();
 * onTestFinished(() => server.dispose());
 * await server.stop(); await server.start();
 * ```
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
  const port = options.port ?? (await freePort());
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "slotwise-nats-")));
  const server = new ServerProcess(
    port,
    storeDir,
    ownsStore,
    options.binary ?? process.env.NATS_SERVER_BIN ?? DEFAULT_NATS_SERVER_BIN,
    options.startTimeoutMs ?? DEFAULT_NATS_SERVER_START_TIMEOUT_MS,
  );
  try {
    await server.start();
  } catch (err) {
    await server.dispose();
    throw err;
  }
  return server;
}
