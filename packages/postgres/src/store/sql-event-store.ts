import {
  type AppendNotifications,
  type AppendOptions,
  type AppendResult,
  type CloudEvent,
  ConcurrencyError,
  checkpointAheadError,
  checkStreamId,
  createUpcasterChain,
  duplicateEventError,
  type EventStore,
  type ExpectedVersion,
  expectedVersionHolds,
  parseAppend,
  parseRead,
  parseReadAll,
  type ReadAllResult,
  SPEC_VERSION,
  type StoredEvent,
  type StoreTransaction,
  storeClosedError,
  type Unlisten,
  type Upcaster,
  type UpcasterChain,
} from "@slotwise/events";
import { constraintOf, sqlState } from "../sql/errors.js";
import type { ErrorHandler, SqlClient, SqlExecutor } from "../sql/sql-client.js";
import { migrate } from "./migrate.js";
import {
  type AppendMode,
  buildStatements,
  checkSchemaName,
  EVENT_ID_CONSTRAINT,
  MAX_VALUES_BATCH,
  NOTIFY_CHANNEL,
  STREAM_VERSION_CONSTRAINT,
  type Statements,
} from "./schema.js";

export interface SqlEventStoreOptions {
  client: SqlClient;
  schema: string;
  upcasters?: readonly Upcaster[];
  /** NOTIFY after commits that appended events. */
  notify: boolean;
  /** @default 10 */
  notifyIntervalMs?: number;
  /**
   * How many times an append with expected version "any" runs when concurrent appends to the same stream
   * keep taking its next version first; then it fails with `ConcurrencyError`. @default 50
   */
  maxAnyAttempts?: number;
  onError: ErrorHandler;
}

/** The store on PostgreSQL or PGlite: `append` and `readAll` plus `listen` for the relay. */
export type SqlEventStore = EventStore & AppendNotifications;

const UNIQUE_VIOLATION = "23505";

interface EventRow {
  position: string;
  stream_id: string;
  stream_version: number;
  event_id: string;
  type: string;
  schema_version: string;
  data: unknown;
  metadata: Record<string, string>;
  recorded_at: Date;
  transaction_id: string;
}

interface AppendRow {
  /** bigint, as text */
  position: string;
  stream_version: number;
}

/** CloudEvent attributes stored in columns of their own, not in `metadata`. */
const COLUMN_ATTRIBUTES: ReadonlySet<string> = new Set([
  "id",
  "type",
  "version",
  "data",
  "metadata",
  "specversion",
]);

/** The envelope attributes kept in `metadata`: everything but the columns, in wire form. */
function envelopeOf(event: CloudEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in event) {
    if (!COLUMN_ATTRIBUTES.has(key)) out[key] = event[key as keyof CloudEvent];
  }
  const metadata = event.metadata;
  for (const key in metadata) out[key] = metadata[key];
  return out;
}

/**
 * A bigint column's text as a bigint. Up to 15 digits the number route is exact and several times faster
 * than parsing the string; positions and transaction ids stay far below that for decades.
 */
function toBigInt(text: string): bigint {
  return text.length < 16 ? BigInt(Number(text)) : BigInt(text);
}

/**
 * The append's parameters: the fixed ones, then five per event (VALUES form) or one JSON array (larger
 * batches). JSON text goes to `::jsonb` parameters as is, parsed once by the server.
 */
function appendParams(fixed: unknown[], events: readonly CloudEvent[]): unknown[] {
  if (events.length > MAX_VALUES_BATCH) {
    const rows = events.map((e) => ({
      i: e.id,
      t: e.type,
      v: e.version,
      d: e.data ?? null,
      m: envelopeOf(e),
    }));
    fixed.push(JSON.stringify(rows));
    return fixed;
  }
  for (const e of events) {
    fixed.push(e.id, e.type, e.version, JSON.stringify(e.data ?? null), JSON.stringify(envelopeOf(e)));
  }
  return fixed;
}

/**
 * A row's CloudEvent: one pass over `metadata`, sorting the envelope attributes from the extension
 * attributes (no rest spread: this runs once per event read).
 */
function decodeEvent(row: EventRow): CloudEvent {
  const m = row.metadata;
  const metadata: Record<string, string> = {};
  const event: {
    -readonly [K in keyof CloudEvent]: CloudEvent[K];
  } = {
    id: row.event_id,
    source: m.source as string,
    specversion: SPEC_VERSION,
    type: row.type,
    subject: m.subject as string,
    time: m.time as string,
    datacontenttype: m.datacontenttype as string,
    data: row.data,
    correlationid: m.correlationid as string,
    version: row.schema_version,
    metadata,
  };
  for (const key in m) {
    switch (key) {
      case "source":
      case "subject":
      case "time":
      case "datacontenttype":
      case "correlationid":
        break;
      case "causationid":
        event.causationid = m[key];
        break;
      case "traceparent":
        event.traceparent = m[key];
        break;
      case "tracestate":
        event.tracestate = m[key];
        break;
      default:
        metadata[key] = m[key] as string;
    }
  }
  return event;
}

function decodeStored(row: EventRow, transactionId: bigint): StoredEvent {
  return {
    event: decodeEvent(row),
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    position: toBigInt(row.position),
    transactionId,
    recordedAt: row.recorded_at,
  };
}

/**
 * Rows to stored events, upcast. Rows of one transaction come together (in `readAll` always, in a stream
 * mostly), so each transaction id is converted once.
 */
function decodeRows(rows: readonly EventRow[], chain: UpcasterChain): StoredEvent[] {
  const out = new Array<StoredEvent>(rows.length);
  let lastText = "";
  let last = 0n;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as EventRow;
    if (row.transaction_id !== lastText) {
      lastText = row.transaction_id;
      last = toBigInt(lastText);
    }
    const stored = decodeStored(row, last);
    out[i] = chain.size === 0 ? stored : chain.upcastStored(stored);
  }
  return out;
}

/** The stream's version and the first and last positions, from the append's rows (one per event). */
function appendResult(rows: readonly AppendRow[]): AppendResult {
  const head = rows[0] as AppendRow;
  let first = toBigInt(head.position);
  let last = first;
  let version = head.stream_version;
  for (let i = 1; i < rows.length; i++) {
    const row = rows[i] as AppendRow;
    const p = toBigInt(row.position);
    if (p < first) first = p;
    if (p > last) last = p;
    if (row.stream_version > version) version = row.stream_version;
  }
  return { nextVersion: version, firstPosition: first, lastPosition: last };
}

function isVersionConflict(err: unknown): boolean {
  return sqlState(err) === UNIQUE_VIOLATION && constraintOf(err) === STREAM_VERSION_CONSTRAINT;
}

/** "Key (stream_id, stream_version)=(s, 4) already exists." → 4; "Key (event_id)=(x) …" → x. */
function keyFromDetail(err: unknown): string | undefined {
  const detail = (err as { detail?: unknown }).detail;
  if (typeof detail !== "string") return undefined;
  const m = /\)=\((.*)\) already exists/.exec(detail);
  return m?.[1];
}

/** Attempts of an "any" append that keeps losing the race for the stream's next version. */
export const DEFAULT_MAX_ANY_ATTEMPTS = 50;

/** Least time between two notifications from one store. */
export const DEFAULT_NOTIFY_INTERVAL_MS = 10;

/** How long a notification owed after an interval waits for an append to carry it: a fifth of the interval. */
export function defaultNotifyGraceMs(intervalMs: number): number {
  return Math.max(1, Math.round(intervalMs / 5));
}

/**
 * Coalesces notifications. When idle, an append on its own carries the notification: `pg_notify` in its
 * own statement, delivered at its commit, so no transaction of its own is needed (each such transaction
 * costs a commit, and with it a WAL flush beside the appends'). Commits during a notification or within
 * `intervalMs` after it are covered by one more: once the interval is over, the next append carries it,
 * or, when none starts within `graceMs`, a NOTIFY of its own is sent. A fast writer thus causes at most
 * one notification per interval, and a listener learns of any commit within about one interval. Commits
 * of `transaction` are announced by a NOTIFY of their own (coalesced the same way).
 */
function createNotifier(
  client: SqlClient,
  payload: string,
  intervalMs: number,
  graceMs: number,
  onError: ErrorHandler,
) {
  let running: Promise<void> | undefined; // a NOTIFY of its own, in flight
  let carrying = false; // an append carrying the notification, in flight
  let carriedDue = false; // ...which covers earlier commits, too
  let timer: NodeJS.Timeout | undefined; // the interval after a notification
  let pending = false; // commits not announced yet
  let due: NodeJS.Timeout | undefined; // the interval is over and commits wait: the grace for a carrier

  const startInterval = (): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (!pending) return;
      pending = false;
      due = setTimeout(() => {
        due = undefined;
        send();
      }, graceMs);
      due.unref();
    }, intervalMs);
    timer.unref();
  };
  const send = (): void => {
    pending = false;
    running = client
      .notify(NOTIFY_CHANNEL, payload)
      .catch((err: unknown) => onError(err as Error))
      .then(() => {
        running = undefined;
        startInterval();
      });
  };
  const stopTimers = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (due) clearTimeout(due);
    due = undefined;
  };
  return {
    /** Before an append on its own: whether its statement carries the notification. */
    claim(): boolean {
      if (carrying || running || timer) return false;
      carriedDue = due !== undefined;
      if (due) clearTimeout(due);
      due = undefined;
      carrying = true;
      return true;
    },
    /** After an append on its own that claimed (`claimed`) or not; `appended`: it committed events. */
    settle(claimed: boolean, appended: boolean): void {
      if (!claimed) {
        if (appended) this.poke();
        return;
      }
      carrying = false;
      if (appended) startInterval();
      else if (carriedDue || pending) send(); // what it was to announce goes on its own
    },
    /** After a commit that appended events and carried no notification. */
    poke(): void {
      if (due) return; // the notification on its way covers this commit
      if (carrying || running || timer) pending = true;
      else send();
    },
    /** Sends what is pending now and waits for it. */
    async drain(): Promise<void> {
      await running;
      const owed = pending || due !== undefined;
      stopTimers();
      if (owed) send();
      await running;
      stopTimers();
    },
  };
}

/**
 * The SQL event store over a `SqlClient`: one set of statements for PostgreSQL and PGlite. Migrations run
 * at first use. See `schema.ts` for the tables and statements.
 */
export function createSqlEventStore(options: SqlEventStoreOptions): SqlEventStore {
  const { client, schema, onError } = options;
  checkSchemaName(schema);
  const chain = createUpcasterChain(options.upcasters);
  const st: Statements = buildStatements(schema);
  const notifyIntervalMs = options.notifyIntervalMs ?? DEFAULT_NOTIFY_INTERVAL_MS;
  const notifier = options.notify
    ? createNotifier(client, schema, notifyIntervalMs, defaultNotifyGraceMs(notifyIntervalMs), onError)
    : undefined;
  const maxAnyAttempts = options.maxAnyAttempts ?? DEFAULT_MAX_ANY_ATTEMPTS;
  const unlisteners = new Set<Unlisten>();
  let closed = false;
  let ready: Promise<void> | undefined;

  function ensureReady(): Promise<void> {
    if (closed) return Promise.reject(storeClosedError());
    if (ready === undefined) {
      ready = migrate(client, schema).then(
        () => undefined,
        (err: unknown) => {
          ready = undefined; // try again at the next call
          throw err;
        },
      );
    }
    return ready;
  }

  async function versionOn(exec: SqlExecutor, streamId: string): Promise<number> {
    const [row] = await exec.query<{ version: number }>(st.version, [streamId]);
    return row?.version ?? 0;
  }

  async function appendOn(
    exec: SqlExecutor,
    inTransaction: boolean,
    streamId: string,
    events: readonly CloudEvent[],
    appendOptions: AppendOptions | undefined,
    carryNotification = false,
  ): Promise<AppendResult> {
    const expected = parseAppend(streamId, events, appendOptions);
    const count = events.length;
    if (count === 0) {
      const actual = await versionOn(exec, streamId);
      if (!expectedVersionHolds(expected, actual)) throw new ConcurrencyError(streamId, expected, actual);
      return { nextVersion: actual, firstPosition: 0n, lastPosition: 0n };
    }
    const mode: AppendMode =
      expected === "any" ? "any" : expected === "no-stream" || expected === 0 ? "new" : "expected";
    const statement = inTransaction
      ? st.append(mode, count, "transaction")
      : st.append(mode, count, "single", carryNotification);
    const params = appendParams(mode === "expected" ? [streamId, expected] : [streamId], events);
    for (let attempt = 1; ; attempt++) {
      let rows: AppendRow[] | undefined;
      try {
        rows = await exec.query<AppendRow>(statement, params);
      } catch (err) {
        // A lost race for the stream's next versions (on its own, see `appendText`): the winner has
        // committed, so "any" runs again, on a snapshot that sees it.
        const lostRace = mode === "any" && !inTransaction && isVersionConflict(err);
        if (!lostRace || attempt >= maxAnyAttempts) {
          throw await interpretFailure(err, exec, inTransaction, streamId, expected);
        }
      }
      if (rows !== undefined) {
        if (rows.length > 0) return appendResult(rows);
        // Nothing inserted: the expected version does not hold, or (in a transaction) a concurrent append
        // took the next version and committed. "any" runs again; the others report the version now.
        if (mode !== "any" || attempt >= maxAnyAttempts) {
          throw new ConcurrencyError(streamId, expected, await versionOn(exec, streamId));
        }
      }
    }
  }

  /** The one boundary where a unique violation becomes a typed error. */
  async function interpretFailure(
    err: unknown,
    exec: SqlExecutor,
    inTransaction: boolean,
    streamId: string,
    expected: ExpectedVersion,
  ): Promise<unknown> {
    if (sqlState(err) !== UNIQUE_VIOLATION) return err;
    const constraint = constraintOf(err);
    if (constraint === EVENT_ID_CONSTRAINT) return duplicateEventError(streamId, keyFromDetail(err), err);
    if (constraint === STREAM_VERSION_CONSTRAINT) {
      // On its own: a concurrent append won the race for these versions and has committed. In a
      // transaction only reachable when a writer outside the store (plain SQL) holds a version after the
      // first one appended (see `appendText`); the failed statement aborted the transaction, so read the
      // actual version elsewhere; a single-connection database cannot, and reports the version found taken.
      let actual: number;
      if (!inTransaction) actual = await versionOn(exec, streamId);
      else if (client.concurrent) actual = await versionOn(client, streamId);
      else actual = Number(keyFromDetail(err)?.split(", ").pop() ?? Number.NaN);
      return new ConcurrencyError(streamId, expected, actual, { cause: err });
    }
    return err;
  }

  async function readRows(streamId: string, readOptions: Parameters<EventStore["read"]>[1]) {
    const { fromVersion, toVersion, asOf } = parseRead(streamId, readOptions);
    await ensureReady();
    return asOf === undefined
      ? client.query<EventRow>(st.read, [streamId, fromVersion, toVersion])
      : client.query<EventRow>(st.readAsOf, [streamId, fromVersion, toVersion, asOf]);
  }

  const store: SqlEventStore = {
    async append(streamId, events, appendOptions) {
      await ensureReady();
      if (notifier === undefined || events.length === 0) {
        return appendOn(client, false, streamId, events, appendOptions);
      }
      const carry = notifier.claim();
      let appended = false;
      try {
        const result = await appendOn(client, false, streamId, events, appendOptions, carry);
        appended = true;
        return result;
      } finally {
        notifier.settle(carry, appended);
      }
    },

    async read(streamId, readOptions) {
      return decodeRows(await readRows(streamId, readOptions), chain);
    },

    async version(streamId) {
      checkStreamId(streamId);
      await ensureReady();
      return versionOn(client, streamId);
    },

    async readAll(readAllOptions): Promise<ReadAllResult> {
      const { after, limit } = parseReadAll(readAllOptions);
      await ensureReady();
      const rows = await client.query<EventRow>(st.readAll, [
        String(after.transactionId),
        String(after.position),
        limit,
      ]);
      if (rows.length === 0) {
        // Caught up, or a checkpoint from another cluster: the only case where no event can ever come,
        // told by the next transaction id (an event after the checkpoint proves it is not ahead).
        const [row] = await client.query<{ next_transaction_id: string }>(st.nextTransactionId, []);
        const next = BigInt(row?.next_transaction_id ?? "0");
        if (after.transactionId >= next) throw checkpointAheadError(after, next);
        return { events: [], checkpoint: after };
      }
      const events = decodeRows(rows, chain);
      const last = events[events.length - 1] as StoredEvent;
      return { events, checkpoint: { transactionId: last.transactionId, position: last.position } };
    },

    async transaction<R>(work: (tx: StoreTransaction) => Promise<R>): Promise<R> {
      await ensureReady();
      let appended = false;
      const result = await client.transaction(async (exec) => {
        let active = true;
        const assertActive = () => {
          if (!active) throw storeClosedError("transaction");
        };
        const tx: StoreTransaction = {
          async append(streamId, events, appendOptions) {
            assertActive();
            const r = await appendOn(exec, true, streamId, events, appendOptions);
            if (events.length > 0) appended = true;
            return r;
          },
          async query<Row = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<Row[]> {
            assertActive();
            return exec.query<Row>({ text: sql }, params);
          },
        };
        try {
          return await work(tx);
        } finally {
          active = false;
        }
      });
      if (appended) notifier?.poke();
      return result;
    },

    async listen(onAppended) {
      await ensureReady();
      const stop = await client.listen(NOTIFY_CHANNEL, (payload) => {
        // Other schemas share the channel; "" means "after a reconnect, maybe".
        if (payload !== schema && payload !== "") return;
        try {
          onAppended();
        } catch {
          // A listener's failure is its own (see AppendNotifications).
        }
      });
      const unlisten: Unlisten = async () => {
        if (!unlisteners.delete(unlisten)) return;
        await stop();
      };
      unlisteners.add(unlisten);
      return unlisten;
    },

    async close() {
      if (closed) return;
      closed = true;
      await notifier?.drain();
      await Promise.all([...unlisteners].map((u) => u()));
      await client.close();
    },
  };
  return store;
}
