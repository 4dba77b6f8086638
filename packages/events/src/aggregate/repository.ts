import type { CloudEvent } from "../envelope/index.js";
import { EnvelopeError, ErrorCode, isSlotwiseError, SlotwiseError } from "../errors/index.js";
import type { EventStore, StoredEvent } from "../store/event-store.js";
import {
  DEFAULT_SNAPSHOT_SCHEMA_VERSION,
  type Snapshot,
  type SnapshotStore,
} from "../store/snapshot-store.js";
import { AggregateRoot } from "./aggregate-root.js";
import type { AggregateDefinition } from "./definition.js";

/** Retries of `handle` after a version conflict, before the ConcurrencyError is thrown to the caller. */
export const DEFAULT_COMMAND_MAX_RETRIES = 3;
/** Base pause before a retry of `handle`, in ms (0: retry at once; the reload is the real remedy). */
export const DEFAULT_COMMAND_RETRY_DELAY_MS = 0;

/** The aggregate shape a repository handles. */
export type AnyAggregateRoot = AggregateRoot<unknown, never>;

export interface RepositorySnapshotOptions {
  store: SnapshotStore;
  /** Save a snapshot each time the stream's version crosses a multiple of `every` (a positive integer). */
  every: number;
  /**
   * Version of the state's shape. A snapshot written with another version is ignored (the aggregate is
   * replayed from its first event), so bump it whenever the state type changes. The state must survive
   * the snapshot store's serialization (JSON for PostgreSQL: no Dates, Maps or class instances).
   * @default 1
   */
  schemaVersion?: number;
  /**
   * Told when reading or saving a snapshot fails (`version` is 0 for a read). Neither fails the operation:
   * a load replays instead, and a save's events are committed already. @default ignore
   */
  onError?: (error: unknown, context: { streamId: string; version: number }) => void;
}

export interface RepositoryBaseOptions {
  store: EventStore;
  snapshots?: RepositorySnapshotOptions;
  /** Retries of `handle` after a CONCURRENCY_CONFLICT (other errors are never retried). @default 3 */
  maxRetries?: number;
  /** Pause before retry n is `retryDelayMs * n`, with jitter (50–100 %). @default 0 */
  retryDelayMs?: number;
}

export interface RepositoryDefinitionOptions<State, Command> extends RepositoryBaseOptions {
  /** The pure aggregate; the repository builds `AggregateRoot`s over it. */
  definition: AggregateDefinition<State, Command>;
}

export interface RepositoryFactoryOptions<A extends AnyAggregateRoot> extends RepositoryBaseOptions {
  /** Creates an empty aggregate (typically `(id) => new Booking(id)`); its definition is used for the rest. */
  factory: (id: string) => A;
}

export interface SaveResult {
  /** The stream's version after the save (unchanged when there was nothing to save). */
  version: number;
  /** The events appended, in order. */
  events: readonly CloudEvent[];
}

export interface HandleResult<A, R> extends SaveResult {
  /** The aggregate after the command, its events committed. */
  aggregate: A;
  /** What the command function returned. */
  result: R;
  /** 1 when the first attempt succeeded. */
  attempts: number;
}

export interface Repository<A extends AnyAggregateRoot> {
  /** The stream holding an aggregate's events. */
  streamId(id: string): string;
  /**
   * The aggregate as of its latest event: from the newest usable snapshot plus the events after it, else
   * by replay of the whole stream. An unknown id gives a new aggregate at version 0.
   */
  load(id: string): Promise<A>;
  /** The aggregate as it was at `asOf` (temporal query): replay of the events recorded until then. */
  loadAsOf(id: string, asOf: Date): Promise<A>;
  /**
   * Appends the uncommitted events with the loaded version as expected version, then marks them
   * committed. A concurrent writer makes it throw `ConcurrencyError` (CONCURRENCY_CONFLICT), unchanged.
   */
  save(aggregate: A): Promise<SaveResult>;
  /**
   * The command handler: load, run `command` (which calls command methods or `execute`), save. On a
   * CONCURRENCY_CONFLICT it starts over from a fresh load, at most `maxRetries` times; any other error,
   * a refused command included, is thrown at once. `command` may therefore run more than once: keep its
   * side effects inside the aggregate.
   */
  handle<R>(id: string, command: (aggregate: A) => R | Promise<R>): Promise<HandleResult<A, R>>;
}

function invalid(field: string, message: string, value: unknown): SlotwiseError {
  return new SlotwiseError(ErrorCode.INVALID_OPTIONS, message, { details: { field, value } });
}

function checkOptions(options: RepositoryBaseOptions): void {
  if (!options.store) throw invalid("store", "a repository needs an event store", options.store);
  const maxRetries = options.maxRetries ?? DEFAULT_COMMAND_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw invalid("maxRetries", "maxRetries must be a non-negative integer", maxRetries);
  }
  const delay = options.retryDelayMs ?? DEFAULT_COMMAND_RETRY_DELAY_MS;
  if (!(delay >= 0)) throw invalid("retryDelayMs", "retryDelayMs must be ≥ 0", delay);
  const snapshots = options.snapshots;
  if (snapshots) {
    if (!snapshots.store)
      throw invalid("snapshots.store", "snapshots need a snapshot store", snapshots.store);
    if (!Number.isInteger(snapshots.every) || snapshots.every < 1) {
      throw invalid("snapshots.every", "snapshots.every must be a positive integer", snapshots.every);
    }
    const schemaVersion = snapshots.schemaVersion ?? DEFAULT_SNAPSHOT_SCHEMA_VERSION;
    if (!Number.isInteger(schemaVersion) || schemaVersion < 1) {
      throw invalid(
        "snapshots.schemaVersion",
        "snapshots.schemaVersion must be a positive integer",
        schemaVersion,
      );
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class EventSourcedRepository<A extends AnyAggregateRoot> implements Repository<A> {
  readonly #store: EventStore;
  readonly #factory: (id: string) => A;
  readonly #snapshots: RepositorySnapshotOptions | undefined;
  readonly #snapshotVersion: number;
  readonly #maxRetries: number;
  readonly #retryDelayMs: number;

  constructor(options: RepositoryBaseOptions, factory: (id: string) => A) {
    this.#store = options.store;
    this.#factory = factory;
    this.#snapshots = options.snapshots;
    this.#snapshotVersion = options.snapshots?.schemaVersion ?? DEFAULT_SNAPSHOT_SCHEMA_VERSION;
    this.#maxRetries = options.maxRetries ?? DEFAULT_COMMAND_MAX_RETRIES;
    this.#retryDelayMs = options.retryDelayMs ?? DEFAULT_COMMAND_RETRY_DELAY_MS;
  }

  streamId(id: string): string {
    return this.#factory(id).streamId;
  }

  #replay(aggregate: A, stored: readonly StoredEvent[]): A {
    for (const { event } of stored) aggregate.apply(event);
    return aggregate;
  }

  async load(id: string): Promise<A> {
    const aggregate = this.#factory(id);
    const streamId = aggregate.streamId;
    if (this.#snapshots) {
      const snapshot = await this.#loadSnapshot(this.#snapshots, streamId);
      if (snapshot && snapshot.schemaVersion === this.#snapshotVersion) {
        aggregate.restore({ state: snapshot.state, version: snapshot.version });
        const after = await this.#store.read(streamId, { fromVersion: snapshot.version + 1 });
        return this.#replay(aggregate, after);
      }
    }
    return this.#replay(aggregate, await this.#store.read(streamId));
  }

  /** A snapshot is a cache: when it cannot be read, report it and replay instead of failing the load. */
  async #loadSnapshot(options: RepositorySnapshotOptions, streamId: string): Promise<Snapshot | undefined> {
    try {
      return await options.store.load(streamId);
    } catch (error) {
      options.onError?.(error, { streamId, version: 0 });
      return undefined;
    }
  }

  async loadAsOf(id: string, asOf: Date): Promise<A> {
    const aggregate = this.#factory(id);
    return this.#replay(aggregate, await this.#store.read(aggregate.streamId, { asOf }));
  }

  async save(aggregate: A): Promise<SaveResult> {
    const events = aggregate.uncommittedEvents;
    if (events.length === 0) return { version: aggregate.version, events: [] };
    for (const event of events) {
      // Events of one aggregate share its id as subject: that is what keeps them in order downstream.
      if (event.subject !== aggregate.id) {
        throw new EnvelopeError(
          ErrorCode.INVALID_ENVELOPE,
          "subject",
          `event ${event.type} has subject "${event.subject}", but belongs to aggregate "${aggregate.id}"`,
          { details: { expected: aggregate.id, actual: event.subject, type: event.type } },
        );
      }
    }
    const expectedVersion = aggregate.committedVersion;
    const result = await this.#store.append(aggregate.streamId, events, { expectedVersion });
    const committed = aggregate.markCommitted();
    if (this.#snapshots) await this.#maybeSnapshot(aggregate, expectedVersion, result.nextVersion);
    return { version: result.nextVersion, events: committed };
  }

  async #maybeSnapshot(aggregate: A, before: number, after: number): Promise<void> {
    const options = this.#snapshots;
    if (!options || Math.floor(after / options.every) === Math.floor(before / options.every)) return;
    const { state, version } = aggregate.snapshot();
    try {
      await options.store.save({
        streamId: aggregate.streamId,
        version,
        state,
        schemaVersion: this.#snapshotVersion,
      });
    } catch (error) {
      options.onError?.(error, { streamId: aggregate.streamId, version });
    }
  }

  async handle<R>(id: string, command: (aggregate: A) => R | Promise<R>): Promise<HandleResult<A, R>> {
    for (let attempt = 1; ; attempt++) {
      const aggregate = await this.load(id);
      const result = await command(aggregate);
      try {
        const saved = await this.save(aggregate);
        return { ...saved, aggregate, result, attempts: attempt };
      } catch (error) {
        if (!isSlotwiseError(error, ErrorCode.CONCURRENCY_CONFLICT) || attempt > this.#maxRetries)
          throw error;
        if (this.#retryDelayMs > 0) await sleep(this.#retryDelayMs * attempt * (0.5 + Math.random() / 2));
      }
    }
  }
}

/** A repository over a pure definition: it loads and saves plain `AggregateRoot`s. */
export function createRepository<State, Command>(
  options: RepositoryDefinitionOptions<State, Command>,
): Repository<AggregateRoot<State, Command>>;
/** A repository of an aggregate class: `factory` creates an empty one. */
export function createRepository<A extends AnyAggregateRoot>(
  options: RepositoryFactoryOptions<A>,
): Repository<A>;
export function createRepository<State, Command>(
  options:
    | RepositoryDefinitionOptions<State, Command>
    | RepositoryFactoryOptions<AggregateRoot<State, Command>>,
): Repository<AggregateRoot<State, Command>> {
  checkOptions(options);
  if ("factory" in options && typeof options.factory === "function") {
    return new EventSourcedRepository(options, options.factory);
  }
  const definition = (options as RepositoryDefinitionOptions<State, Command>).definition;
  if (!definition) throw invalid("definition", "a repository needs a definition or a factory", definition);
  return new EventSourcedRepository(options, (id) => new AggregateRoot(id, definition));
}
