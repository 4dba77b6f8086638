import { createPublisher, type OutboundStep, type Publisher } from "../bus/publisher.js";
import { assertEnvironment } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import {
  type Checkpoint,
  canListen,
  type EventStore,
  type ReadAllResult,
  START,
  type StoredEvent,
} from "../store/event-store.js";
import type { PublishAck, Transport } from "../transport/index.js";
import type { CheckpointStore } from "./checkpoint-store.js";
import { type LagSummary, LagWindow } from "./lag.js";
import type { LeaderLock } from "./leader-lock.js";

export const DEFAULT_RELAY_NAME = "relay";
export const DEFAULT_RELAY_BATCH_SIZE = 1000;
export const DEFAULT_RELAY_POLL_INTERVAL_MS = 1000;
export const DEFAULT_RELAY_MAX_IN_FLIGHT = 512;
export const DEFAULT_RELAY_PUBLISH_TIMEOUT_MS = 5_000;
export const DEFAULT_RELAY_PUBLISH_DEADLINE_MS = 30_000;
export const DEFAULT_RELAY_STANDBY_RETRY_MS = 1000;
export const DEFAULT_RELAY_RETRY_DELAY_MS = 100;
export const DEFAULT_RELAY_MAX_RETRY_DELAY_MS = 5_000;
export const DEFAULT_RELAY_LAG_WINDOW = 10_000;

/** Stops a wake source; may be async. */
export type Unsubscribe = () => void | Promise<void>;

/**
 * Calls `onWake` when new events may be readable (e.g. PostgreSQL LISTEN/NOTIFY). Calls may be coalesced,
 * spurious or missed: the relay also polls.
 */
export type WakeSource = (onWake: () => void) => Unsubscribe | Promise<Unsubscribe>;

/** What one batch published, handed to `onBatchPublished` before its checkpoint is saved. */
export interface RelayBatch {
  readonly events: readonly StoredEvent[];
  /** The checkpoint about to be saved. */
  readonly checkpoint: Checkpoint;
}

export interface RelayOptions {
  /** The log to follow. */
  store: EventStore;
  /** Where events go: each to `{env}.{type}` with `Nats-Msg-Id` = event id. */
  transport: Transport;
  /** Environment prefix of every subject. */
  env: string;
  /** Where the relay keeps its place. */
  checkpoints: CheckpointStore;
  /** Checkpoint and lock name; relays with one name are instances of one relay. @default "relay" */
  name?: string;
  /**
   * Leadership among instances: only the holder publishes, the others retry every `standbyRetryMs`.
   * @default none: this instance is always active
   */
  lock?: LeaderLock;
  /**
   * Wake-ups after commits. `false` disables them (polling only).
   * @default the store's `listen` when it has one (`canListen`), else none
   */
  wake?: WakeSource | false;
  /** Events read and published per batch; one checkpoint save per batch. @default 1000 */
  batchSize?: number;
  /** Reads this often when no wake-up comes (the fallback for lost notifications). @default 1000 */
  pollIntervalMs?: number;
  /** Publishes awaiting their acknowledgement at most (the pipeline window). @default 512 */
  maxInFlight?: number;
  /** Wait for one acknowledgement. @default 5000 */
  publishTimeoutMs?: number;
  /**
   * An ambiguous publish (timeout, lost connection) is retried with the same msg id until this deadline;
   * keep it below the stream's duplicate window. @default 30000
   */
  publishDeadlineMs?: number;
  /** A standby tries to take the lock this often (the fail-over time). @default 1000 */
  standbyRetryMs?: number;
  /** First pause after a failed batch; doubles per failure. @default 100 */
  retryDelayMs?: number;
  /** @default 5000 */
  maxRetryDelayMs?: number;
  /** Steps applied to each event before encoding (authorization, encryption, tracing). @default [] */
  steps?: OutboundStep[];
  /** Events the lag summary covers. @default 10000 */
  lagWindow?: number;
  /**
   * Called after every event of a batch was acknowledged and before its checkpoint is saved. A crash here is
   * the relay's worst case: the batch is published again after a restart and the server drops the copies.
   */
  onBatchPublished?: (batch: RelayBatch) => void | Promise<void>;
  /** Called on each acknowledgement; `lagMs` runs from the store's commit to the acknowledgement. */
  onEventPublished?: (event: StoredEvent, ack: PublishAck, lagMs: number) => void;
  /** Told of each failure (the relay retries by itself). @default ignored; see `stats().lastError` */
  onError?: (error: unknown) => void;
}

/** "new" until `start()`, then "standby" (waiting for the lock) or "active", "stopped" after `stop()`. */
export type RelayState = "new" | "standby" | "active" | "stopped";

export interface RelayStats {
  readonly name: string;
  readonly state: RelayState;
  /** Events acknowledged (duplicates included). */
  readonly published: number;
  /** Acknowledgements that reported a duplicate: events published again after a crash or fail-over. */
  readonly duplicates: number;
  /** Batches whose checkpoint was saved. */
  readonly batches: number;
  /** The last checkpoint saved or loaded while active. */
  readonly checkpoint: Checkpoint | undefined;
  /** `readAll` calls made (empty ones included). */
  readonly reads: number;
  /** Failed batches and lock attempts. */
  readonly errors: number;
  readonly lastError: unknown;
  /** Times this instance became active. */
  readonly activations: number;
  /** Commit → acknowledgement over the last `lagWindow` events. */
  readonly lag: LagSummary;
}

export interface Relay {
  /** Subscribes to wake-ups and starts working (or standing by); resolves once started. */
  start(): Promise<void>;
  /** Finishes the batch in progress (acks and checkpoint), releases the lock, then resolves. Idempotent. */
  stop(): Promise<void>;
  stats(): RelayStats;
}

interface Parsed {
  name: string;
  batchSize: number;
  pollIntervalMs: number;
  maxInFlight: number;
  publishTimeoutMs: number;
  publishDeadlineMs: number;
  standbyRetryMs: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  lagWindow: number;
}

function parseRelayOptions(options: RelayOptions): Parsed {
  const invalid = (field: string, message: string, value: unknown) =>
    new SlotwiseError(ErrorCode.INVALID_OPTIONS, message, { details: { field, value } });
  if (!options.store) throw invalid("store", "a relay needs an event store", options.store);
  if (!options.transport) throw invalid("transport", "a relay needs a transport", options.transport);
  if (!options.checkpoints)
    throw invalid("checkpoints", "a relay needs a checkpoint store", options.checkpoints);
  assertEnvironment(options.env);
  const parsed: Parsed = {
    name: options.name ?? DEFAULT_RELAY_NAME,
    batchSize: options.batchSize ?? DEFAULT_RELAY_BATCH_SIZE,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_RELAY_POLL_INTERVAL_MS,
    maxInFlight: options.maxInFlight ?? DEFAULT_RELAY_MAX_IN_FLIGHT,
    publishTimeoutMs: options.publishTimeoutMs ?? DEFAULT_RELAY_PUBLISH_TIMEOUT_MS,
    publishDeadlineMs: options.publishDeadlineMs ?? DEFAULT_RELAY_PUBLISH_DEADLINE_MS,
    standbyRetryMs: options.standbyRetryMs ?? DEFAULT_RELAY_STANDBY_RETRY_MS,
    retryDelayMs: options.retryDelayMs ?? DEFAULT_RELAY_RETRY_DELAY_MS,
    maxRetryDelayMs: options.maxRetryDelayMs ?? DEFAULT_RELAY_MAX_RETRY_DELAY_MS,
    lagWindow: options.lagWindow ?? DEFAULT_RELAY_LAG_WINDOW,
  };
  if (typeof parsed.name !== "string" || parsed.name === "")
    throw invalid("name", "name must be a non-empty string", parsed.name);
  for (const field of ["batchSize", "maxInFlight", "lagWindow"] as const) {
    if (!Number.isInteger(parsed[field]) || parsed[field] < 1) {
      throw invalid(field, `${field} must be a positive integer`, parsed[field]);
    }
  }
  for (const field of [
    "pollIntervalMs",
    "publishTimeoutMs",
    "publishDeadlineMs",
    "standbyRetryMs",
    "retryDelayMs",
    "maxRetryDelayMs",
  ] as const) {
    if (!(parsed[field] > 0) || !Number.isFinite(parsed[field])) {
      throw invalid(field, `${field} must be a positive number of milliseconds`, parsed[field]);
    }
  }
  if (parsed.publishDeadlineMs < parsed.publishTimeoutMs) {
    throw invalid(
      "publishDeadlineMs",
      `publishDeadlineMs (${parsed.publishDeadlineMs}) is shorter than publishTimeoutMs (${parsed.publishTimeoutMs})`,
      parsed.publishDeadlineMs,
    );
  }
  if (parsed.maxRetryDelayMs < parsed.retryDelayMs) {
    throw invalid("maxRetryDelayMs", "maxRetryDelayMs is shorter than retryDelayMs", parsed.maxRetryDelayMs);
  }
  return parsed;
}

class OutboxRelay implements Relay {
  readonly #o: Parsed;
  readonly #store: EventStore;
  readonly #checkpoints: CheckpointStore;
  readonly #lock: LeaderLock | undefined;
  readonly #wake: WakeSource | undefined;
  readonly #publisher: Publisher;
  readonly #onBatchPublished: RelayOptions["onBatchPublished"];
  readonly #onEventPublished: RelayOptions["onEventPublished"];
  readonly #onError: RelayOptions["onError"];
  readonly #lag: LagWindow;

  #state: RelayState = "new";
  #loop: Promise<void> | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #unsubscribe: Unsubscribe | undefined;
  /** Where the next read starts; undefined while not active. */
  #checkpoint: Checkpoint | undefined;
  /** The next batch, read while the current one is being published. */
  #readAhead: Promise<ReadAllResult> | undefined;
  /** A wake-up arrived since the last read began. */
  #woken = false;
  /** Ends the current sleep early. */
  #interrupt: ((reason: "wake" | "stop") => void) | undefined;
  #sleepWakeable = false;
  /** Events of the batch being published, by id (for their commit time). */
  readonly #inFlight = new Map<string, StoredEvent>();

  #published = 0;
  #duplicates = 0;
  #batches = 0;
  #errors = 0;
  #reads = 0;
  #lastError: unknown;
  #activations = 0;

  constructor(options: RelayOptions) {
    this.#o = parseRelayOptions(options);
    this.#store = options.store;
    this.#checkpoints = options.checkpoints;
    this.#lock = options.lock;
    const store = options.store;
    this.#wake =
      options.wake === false
        ? undefined
        : (options.wake ?? (canListen(store) ? (onWake: () => void) => store.listen(onWake) : undefined));
    this.#onBatchPublished = options.onBatchPublished;
    this.#onEventPublished = options.onEventPublished;
    this.#onError = options.onError;
    this.#lag = new LagWindow(this.#o.lagWindow);
    this.#publisher = createPublisher({
      transport: options.transport,
      env: options.env,
      maxInFlight: this.#o.maxInFlight,
      timeoutMs: this.#o.publishTimeoutMs,
      deadlineMs: this.#o.publishDeadlineMs,
      ...(options.steps ? { steps: options.steps } : {}),
      onPublished: (event, _subject, outcome) => {
        if (!outcome.ack) return;
        this.#published++;
        if (outcome.ack.duplicate) this.#duplicates++;
        const stored = this.#inFlight.get(event.id);
        if (stored === undefined) return;
        const lagMs = Date.now() - stored.recordedAt.getTime();
        this.#lag.record(lagMs);
        this.#onEventPublished?.(stored, outcome.ack, lagMs);
      },
    });
  }

  async start(): Promise<void> {
    if (this.#state !== "new") {
      if (this.#state === "stopped")
        throw new SlotwiseError(ErrorCode.CLOSED, `relay "${this.#o.name}" is stopped`);
      return;
    }
    this.#state = "standby";
    if (this.#wake) this.#unsubscribe = await this.#wake(() => this.#poke());
    this.#loop = this.#run();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    this.#interrupt?.("stop");
    try {
      await this.#loop;
      await this.#readAhead?.catch(() => undefined);
      this.#readAhead = undefined;
    } finally {
      try {
        await this.#unsubscribe?.();
      } finally {
        this.#state = "stopped";
        await this.#lock?.release();
      }
    }
  }

  stats(): RelayStats {
    return {
      name: this.#o.name,
      state: this.#state,
      published: this.#published,
      duplicates: this.#duplicates,
      batches: this.#batches,
      checkpoint: this.#checkpoint === undefined ? undefined : { ...this.#checkpoint },
      reads: this.#reads,
      errors: this.#errors,
      lastError: this.#lastError,
      activations: this.#activations,
      lag: this.#lag.summary(),
    };
  }

  #poke(): void {
    this.#woken = true;
    if (this.#sleepWakeable) this.#interrupt?.("wake");
  }

  /** Sleeps `ms`; `stop()` always ends it early, a wake-up only when `wakeable`. */
  #sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#interrupt = undefined;
        this.#sleepWakeable = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#interrupt = done;
      this.#sleepWakeable = wakeable;
    });
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      try {
        if (!(await this.#lead())) {
          await this.#sleep(this.#o.standbyRetryMs, false);
          continue;
        }
        const count = await this.#cycle();
        failures = 0;
        // A full batch likely has more behind it; otherwise wait for a wake-up or the next poll.
        if (count < this.#o.batchSize && !this.#woken) await this.#sleep(this.#o.pollIntervalMs, true);
      } catch (error) {
        failures++;
        this.#errors++;
        this.#lastError = error;
        this.#discardReadAhead();
        try {
          this.#onError?.(error);
        } catch {
          // the observer's failure is its own
        }
        const delay = Math.min(
          this.#o.maxRetryDelayMs,
          this.#o.retryDelayMs * 2 ** Math.min(failures - 1, 30),
        );
        await this.#sleep(delay, false);
      }
    }
  }

  /** True when this instance is active (holds the lock, knows its checkpoint). */
  async #lead(): Promise<boolean> {
    const lock = this.#lock;
    if (lock !== undefined && !lock.held) {
      if (this.#state === "active") {
        // Lost (its connection dropped): someone else may be active now. Reload the checkpoint on return.
        this.#state = "standby";
        this.#checkpoint = undefined;
        this.#discardReadAhead();
      }
      if (!(await lock.acquire(this.#o.name))) return false;
    }
    if (this.#checkpoint === undefined) {
      this.#checkpoint = (await this.#checkpoints.load(this.#o.name)) ?? { ...START };
      this.#state = "active";
      this.#activations++;
    }
    return true;
  }

  #discardReadAhead(): void {
    const pending = this.#readAhead;
    this.#readAhead = undefined;
    pending?.catch(() => undefined);
  }

  #read(after: Checkpoint): Promise<ReadAllResult> {
    return this.#store.readAll({ after, limit: this.#o.batchSize });
  }

  /** Reads one batch, publishes it, awaits every acknowledgement, saves the checkpoint. Returns its size. */
  async #cycle(): Promise<number> {
    const after = this.#checkpoint as Checkpoint;
    this.#woken = false;
    const pending = this.#readAhead ?? this.#read(after);
    this.#readAhead = undefined;
    const batch = await pending;
    this.#reads++;
    const events = batch.events;
    if (events.length === 0) return 0;
    if (events.length >= this.#o.batchSize) {
      // Read the next batch while this one is on the wire; it starts where this one's checkpoint will be.
      const next = this.#read(batch.checkpoint);
      next.catch(() => undefined);
      this.#readAhead = next;
    }
    this.#inFlight.clear();
    try {
      for (const stored of events) {
        this.#inFlight.set(stored.event.id, stored);
        await this.#publisher.publishAsync(stored.event);
      }
      await this.#publisher.flush();
    } finally {
      this.#inFlight.clear();
    }
    await this.#onBatchPublished?.({ events, checkpoint: batch.checkpoint });
    await this.#checkpoints.save(this.#o.name, batch.checkpoint);
    this.#checkpoint = batch.checkpoint;
    this.#batches++;
    return events.length;
  }
}

/**
 * The outbox relay: follows the store's log in commit order (`readAll`), publishes each event to
 * `{env}.{type}` with `Nats-Msg-Id` = event id (pipelined, every acknowledgement awaited), and only then
 * saves its checkpoint. A crash between the two publishes the batch again on restart, and the stream's
 * duplicate window drops the copies: every event reaches the stream exactly once. Uses only ports, so the
 * same relay runs on PostgreSQL + NATS and embedded (PGlite or in-process store + in-process transport).
 */
export function createRelay(options: RelayOptions): Relay {
  return new OutboxRelay(options);
}
