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
  first_position: string | null;
  last_position: string | null;
  next_version: number | null;
}

/** The envelope attributes kept in `metadata`: everything but the columns, in wire form. */
function envelopeOf(event: CloudEvent): Record<string, unknown> {
  const {
    id: _id,
    type: _type,
    version: _version,
    data: _data,
    metadata,
    specversion: _sv,
    ...envelope
  } = event;
  for (const _key in metadata) return { ...envelope, ...metadata };
  return envelope;
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

function decodeEvent(row: EventRow): CloudEvent {
  const {
    source,
    subject,
    time,
    datacontenttype,
    correlationid,
    causationid,
    traceparent,
    tracestate,
    ...metadata
  } = row.metadata;
  const event: {
    -readonly [K in keyof CloudEvent]: CloudEvent[K];
  } = {
    id: row.event_id,
    source: source as string,
    specversion: SPEC_VERSION,
    type: row.type,
    subject: subject as string,
    time: time as string,
    datacontenttype: datacontenttype as string,
    data: row.data,
    correlationid: correlationid as string,
    version: row.schema_version,
    metadata,
  };
  if (causationid !== undefined) event.causationid = causationid;
  if (traceparent !== undefined) event.traceparent = traceparent;
  if (tracestate !== undefined) event.tracestate = tracestate;
  return event;
}

function decodeStored(row: EventRow): StoredEvent {
  return {
    event: decodeEvent(row),
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    position: BigInt(row.position),
    transactionId: BigInt(row.transaction_id),
    recordedAt: row.recorded_at,
  };
}

/** "Key (stream_id, stream_version)=(s, 4) already exists." → 4; "Key (event_id)=(x) …" → x. */
function keyFromDetail(err: unknown): string | undefined {
  const detail = (err as { detail?: unknown }).detail;
  if (typeof detail !== "string") return undefined;
  const m = /\)=\((.*)\) already exists/.exec(detail);
  return m?.[1];
}

/** Least time between two notifications from one store. */
export const DEFAULT_NOTIFY_INTERVAL_MS = 10;

/**
 * Coalesces notifications: when idle, a commit notifies at once; commits during a notification or within
 * `intervalMs` after it are covered by one more, sent when the interval is over. A fast writer thus sends
 * at most one NOTIFY per interval (each is a small transaction of its own), and a listener learns of any
 * commit within about one interval.
 */
function createNotifier(client: SqlClient, payload: string, intervalMs: number, onError: ErrorHandler) {
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let pending = false;
  const send = (): void => {
    pending = false;
    running = client
      .notify(NOTIFY_CHANNEL, payload)
      .catch((err: unknown) => onError(err as Error))
      .then(() => {
        running = undefined;
        timer = setTimeout(() => {
          timer = undefined;
          if (pending) send();
        }, intervalMs);
        timer.unref();
      });
  };
  return {
    poke(): void {
      if (running || timer) pending = true;
      else send();
    },
    /** Sends what is pending now and waits for it. */
    async drain(): Promise<void> {
      await running;
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (pending) send();
      await running;
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
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
  const notifier = options.notify
    ? createNotifier(client, schema, options.notifyIntervalMs ?? DEFAULT_NOTIFY_INTERVAL_MS, onError)
    : undefined;
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
    const params = appendParams(
      mode === "expected" ? [streamId, count, expected] : [streamId, count],
      events,
    );
    let rows: AppendRow[];
    try {
      rows = await exec.query<AppendRow>(st.append(mode, count), params);
    } catch (err) {
      throw await interpretFailure(err, exec, inTransaction, streamId, expected);
    }
    const row = rows[0];
    if (row?.next_version == null || row.first_position === null || row.last_position === null) {
      // The stream row did not match: the statement inserted nothing. Read what the stream is at now.
      throw new ConcurrencyError(streamId, expected, await versionOn(exec, streamId));
    }
    return {
      nextVersion: row.next_version,
      firstPosition: BigInt(row.first_position),
      lastPosition: BigInt(row.last_position),
    };
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
      // Only reachable when rows were written around the streams table. A failed statement aborts a
      // transaction, so read the actual version elsewhere; a single-connection database cannot, and reports
      // the version found taken.
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
      const result = await appendOn(client, false, streamId, events, appendOptions);
      if (events.length > 0) notifier?.poke();
      return result;
    },

    async read(streamId, readOptions) {
      const rows = await readRows(streamId, readOptions);
      const out = new Array<StoredEvent>(rows.length);
      for (let i = 0; i < rows.length; i++) out[i] = chain.upcastStored(decodeStored(rows[i] as EventRow));
      return out;
    },

    async version(streamId) {
      checkStreamId(streamId);
      await ensureReady();
      return versionOn(client, streamId);
    },

    async readAll(readAllOptions): Promise<ReadAllResult> {
      const { after, limit } = parseReadAll(readAllOptions);
      await ensureReady();
      const rows = await client.query<EventRow & { next_transaction_id: string }>(st.readAll, [
        String(after.transactionId),
        String(after.position),
        limit,
      ]);
      const first = rows[0];
      if (first === undefined) return { events: [], checkpoint: after };
      const next = BigInt(first.next_transaction_id);
      if (after.transactionId >= next) throw checkpointAheadError(after, next);
      if (first.position === null) return { events: [], checkpoint: after };
      const events = new Array<StoredEvent>(rows.length);
      for (let i = 0; i < rows.length; i++) events[i] = chain.upcastStored(decodeStored(rows[i] as EventRow));
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
