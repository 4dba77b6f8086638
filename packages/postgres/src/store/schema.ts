import { ErrorCode, SlotwiseError } from "@slotwise/events";
import { quoteIdentifier } from "../sql/pg-client.js";
import type { SqlStatement } from "../sql/sql-client.js";

/** The schema the store's tables live in. */
export const DEFAULT_SCHEMA = "slotwise";
/** The channel a store notifies after commits that appended events; the payload is the schema name. */
export const NOTIFY_CHANNEL = "slotwise_events";

/** Unique constraint names the store turns into typed errors. */
export const STREAM_VERSION_CONSTRAINT = "events_stream_version_key";
export const EVENT_ID_CONSTRAINT = "events_event_id_key";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): void {
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema)) {
    throw new SlotwiseError(
      ErrorCode.INVALID_OPTIONS,
      `schema must match ${SCHEMA_NAME} (a lower-case SQL identifier), got ${JSON.stringify(schema)}`,
      { details: { schema } },
    );
  }
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** The script, given the quoted schema name. */
  sql(schema: string): string;
}

/**
 * Versioned migrations, applied in order by `migrate()`; never edit one that has shipped, add the next.
 *
 * `events`: the log. `position` is a global order of insertion, not of commit (two transactions take
 * positions in one order and may commit in the other); `transaction_id` (xid8) with it gives commit order
 * for `readAll`. `metadata` holds the rest of the CloudEvent envelope in its wire form (source, subject,
 * time, datacontenttype, correlationid, causationid, traceparent, tracestate, extension attributes).
 * `recorded_at` keeps milliseconds, so the Date a reader gets back selects exactly that event in `asOf`.
 *
 * Migration 1 also created `streams` (each stream's current version, updated by every append); migration 2
 * drops it: the unique (stream_id, stream_version) index is the version check and the lock (see
 * `appendText`), and a stream's version is its greatest `stream_version`.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "events, streams and snapshots",
    sql: (s) => `
CREATE TABLE ${s}.streams (
  stream_id text PRIMARY KEY,
  version integer NOT NULL CHECK (version >= 0)
);
CREATE TABLE ${s}.events (
  position bigint GENERATED ALWAYS AS IDENTITY,
  stream_id text NOT NULL,
  stream_version integer NOT NULL CHECK (stream_version > 0),
  event_id text NOT NULL,
  type text NOT NULL,
  schema_version text NOT NULL,
  data jsonb,
  metadata jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', statement_timestamp()),
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  CONSTRAINT ${STREAM_VERSION_CONSTRAINT} UNIQUE (stream_id, stream_version),
  CONSTRAINT ${EVENT_ID_CONSTRAINT} UNIQUE (event_id),
  -- Commit order, for readAll; as the primary key it is the only index besides the two unique ones.
  CONSTRAINT events_pkey PRIMARY KEY (transaction_id, position)
);
CREATE TABLE ${s}.snapshots (
  stream_id text PRIMARY KEY,
  version integer NOT NULL,
  schema_version integer NOT NULL,
  state jsonb NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 2,
    name: "drop streams: versions come from the events' unique index",
    sql: (s) => `DROP TABLE ${s}.streams;`,
  },
];

/** Short, stable tag of a schema name, so prepared-statement names stay unique per schema and short. */
function tag(schema: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) {
    h ^= schema.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

/** How an append checks its stream: against a version, for absence, or not at all. */
export type AppendMode = "expected" | "new" | "any";

/**
 * Appends of up to this many events bind each event's fields as parameters of a VALUES list, like a plain
 * multi-row INSERT, prepared once per size; larger ones send the batch as one JSON array parameter.
 */
export const MAX_VALUES_BATCH = 100;

/** Parameters before the events' own: $1 stream, and $2 the expected version in mode "expected". */
export function fixedParams(mode: AppendMode): number {
  return mode === "expected" ? 2 : 1;
}

/**
 * Where an append runs: on its own (autocommit), where a failed statement costs nothing but itself, or
 * inside a store transaction, where a failed statement would abort the whole transaction.
 */
export type AppendContext = "single" | "transaction";

const INSERT_COLUMNS = "stream_id, stream_version, event_id, type, schema_version, data, metadata";

/** The stream's greatest version, 0 when it has none: one step down the unique (stream, version) index. */
function maxVersion(s: string): string {
  return `(SELECT coalesce(max(stream_version), 0) AS base FROM ${s}.events WHERE stream_id = $1) AS v`;
}

/** The events of an append as rows `e(id, type, version, data, metadata, ord)`, from the `from`-th on. */
function eventRows(p: number, count: number, from: number): string {
  if (count > MAX_VALUES_BATCH) {
    return `(SELECT x->>'i' AS id, x->>'t' AS type, x->>'v' AS version, x->'d' AS data, x->'m' AS metadata, ord
    FROM jsonb_array_elements($${p}::jsonb) WITH ORDINALITY AS j(x, ord)${from > 1 ? ` WHERE ord >= ${from}` : ""}
    ORDER BY ord) AS e`;
  }
  const rows = new Array<string>(count - from + 1);
  for (let j = from - 1; j < count; j++) {
    const b = p + j * 5;
    rows[j - from + 1] =
      `($${b}::text, $${b + 1}::text, $${b + 2}::text, $${b + 3}::jsonb, $${b + 4}::jsonb, ${j + 1})`;
  }
  // A VALUES list is scanned in order: positions, taken row by row, increase with versions.
  return `(VALUES ${rows.join(", ")}) AS e(id, type, version, data, metadata, ord)`;
}

/**
 * An append on its own: the plain multi-row INSERT, its versions counted from the stream's greatest one,
 * which must be the expected version ("expected", "new": 0; "any": no check). A stale or future expected
 * version inserts nothing (no rows back). Two appends racing for the same versions meet on the unique
 * index: the later waits for the earlier and, once that commits, fails with a unique violation, which
 * the store reports as a conflict ("any" runs again, on a snapshot that sees the winner).
 */
function singleAppendText(s: string, mode: AppendMode, count: number, notify: string): string {
  const p = fixedParams(mode) + 1;
  const check =
    mode === "expected" ? "\nWHERE v.base = $2::integer" : mode === "new" ? "\nWHERE v.base = 0" : "";
  return `INSERT INTO ${s}.events (${INSERT_COLUMNS})
SELECT $1, v.base + e.ord, e.id, e.type, e.version, e.data, e.metadata
FROM ${maxVersion(s)}, ${eventRows(p, count, 1)}${check}
RETURNING position::text AS position, stream_version${notify}`;
}

/**
 * The stream's version before an append in a transaction, as `base`, when the check holds; no row when
 * it does not. "expected": the expected version, if that event exists (the first event's insert, below,
 * finds a later one). "new": 0 (the first event's insert, version 1, finds any existing stream). "any":
 * the greatest version.
 */
function transactionBase(s: string, mode: AppendMode): string {
  switch (mode) {
    case "expected":
      return `(SELECT $2::integer AS base
    WHERE EXISTS (SELECT 1 FROM ${s}.events WHERE stream_id = $1 AND stream_version = $2::integer)) AS v`;
    case "new":
      return "(SELECT 0 AS base) AS v";
    case "any":
      return maxVersion(s);
  }
}

/**
 * An append inside a store transaction, where a unique violation would abort the transaction: the first
 * event goes in on its own, `ON CONFLICT (stream_id, stream_version) DO NOTHING`. Its version, base + 1,
 * is the stream's next one, so its unique-index entry is the append's lock: a concurrent append that took
 * that entry first makes this insert wait for it to end; when it commits, this one inserts nothing, and
 * the rest of the batch, which joins on the first event's row, nothing either. No rows back is the
 * conflict, found without an error: the transaction stays usable, and "any" runs again. The other events
 * cannot collide on their versions: nobody else sees the stream at base + 1 before this one commits.
 */
function transactionAppendText(s: string, mode: AppendMode, count: number): string {
  const p = fixedParams(mode) + 1;
  const first =
    count > MAX_VALUES_BATCH
      ? `SELECT $1, v.base + 1, x->>'i', x->>'t', x->>'v', x->'d', x->'m'
  FROM ${transactionBase(s, mode)}, (SELECT $${p}::jsonb -> 0 AS x) AS j`
      : `SELECT $1, v.base + 1, $${p}::text, $${p + 1}::text, $${p + 2}::text, $${p + 3}::jsonb, $${p + 4}::jsonb
  FROM ${transactionBase(s, mode)}`;
  const insertHead = `INSERT INTO ${s}.events (${INSERT_COLUMNS})
${first}
ON CONFLICT (stream_id, stream_version) DO NOTHING
RETURNING position::text AS position, stream_version`;
  if (count === 1) return insertHead;
  // `head` has one row or none, inserted before the rest (which needs it), so positions follow versions.
  return `WITH head AS (
${insertHead}
), rest AS (
  INSERT INTO ${s}.events (${INSERT_COLUMNS})
  SELECT $1, head.stream_version - 1 + e.ord, e.id, e.type, e.version, e.data, e.metadata
  FROM head, ${eventRows(p, count, 2)}
  RETURNING position::text AS position, stream_version
)
SELECT position, stream_version FROM head
UNION ALL
SELECT position, stream_version FROM rest`;
}

/**
 * The append statement for `count` events: one statement, one round trip, no table besides `events`.
 * Parameters: $1 stream, $2 the expected version (mode "expected"), then five per event (id, type,
 * schema version, data, metadata) or, above `MAX_VALUES_BATCH`, one JSON array of them. Returns one row
 * per event appended, `position` (text) and `stream_version`; none when the expected version does not hold.
 * `notify` (on its own only): a RETURNING item that sends the store's notification at commit; as an
 * uncorrelated subquery it runs once, and only when a row is returned.
 */
function appendText(
  s: string,
  mode: AppendMode,
  count: number,
  context: AppendContext,
  notify: string,
): string {
  return context === "single"
    ? singleAppendText(s, mode, count, notify)
    : transactionAppendText(s, mode, count);
}

const EVENT_COLUMNS =
  "position::text AS position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, transaction_id::text AS transaction_id";

export interface Statements {
  /**
   * The append of `count` events (see `appendText`); built once per context, mode and size. With `notify`
   * (on its own only), it also sends the store's notification (NOTIFY_CHANNEL, the schema) at its commit.
   */
  append(mode: AppendMode, count: number, context: AppendContext, notify?: boolean): SqlStatement;
  /** $1 stream */
  version: SqlStatement;
  /** $1 stream, $2 from, $3 to */
  read: SqlStatement;
  /** $1 stream, $2 from, $3 to, $4 asOf */
  readAsOf: SqlStatement;
  /** $1 after transaction id, $2 after position, $3 limit */
  readAll: SqlStatement;
  /** No parameters: the next transaction id, as `next_transaction_id` (text). */
  nextTransactionId: SqlStatement;
  /** $1 stream */
  loadSnapshot: SqlStatement;
  /** $1 stream, $2 version, $3 state, $4 schema version */
  saveSnapshot: SqlStatement;
}

/** Every statement of the store for one schema, built once. */
export function buildStatements(schema: string): Statements {
  const s = quoteIdentifier(schema);
  const n = (name: string) => `sw_${tag(schema)}_${name}`;
  const appends = new Map<string, SqlStatement>();
  // The schema name is a checked plain identifier (checkSchemaName): safe as a literal.
  const notifyItem = `, (SELECT pg_notify('${NOTIFY_CHANNEL}', '${schema}')) AS notified`;
  return {
    append(mode, count, context, notify = false) {
      // Larger batches share one JSON statement per mode; VALUES statements are prepared per size.
      const size = count <= MAX_VALUES_BATCH ? count : 0;
      const carry = notify && context === "single";
      const prefix = context === "transaction" ? "tx_append" : carry ? "append_n" : "append";
      const key = `${prefix}_${mode}_${size}`;
      let statement = appends.get(key);
      if (statement === undefined) {
        const text = appendText(s, mode, count, context, carry ? notifyItem : "");
        statement = { name: n(key), text };
        appends.set(key, statement);
      }
      return statement;
    },
    // The greatest version: one step down the unique (stream_id, stream_version) index.
    version: {
      name: n("version"),
      text: `SELECT coalesce(max(stream_version), 0) AS version FROM ${s}.events WHERE stream_id = $1`,
    },
    read: {
      name: n("read"),
      text: `SELECT ${EVENT_COLUMNS} FROM ${s}.events
WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3 ORDER BY stream_version`,
    },
    readAsOf: {
      name: n("read_as_of"),
      text: `SELECT ${EVENT_COLUMNS} FROM ${s}.events
WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3 AND recorded_at <= $4
ORDER BY stream_version`,
    },
    // Commit order without skips: only transactions below the snapshot's xmin are finished, so nothing can
    // still commit before the rows returned. The bound is computed once, at the start of the index scan;
    // the rows are exactly the plain keyset SELECT's, nothing is computed per row.
    readAll: {
      name: n("read_all"),
      text: `SELECT ${EVENT_COLUMNS} FROM ${s}.events AS ev
WHERE (ev.transaction_id, ev.position) > ($1::xid8, $2::bigint)
  AND ev.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY ev.transaction_id, ev.position
LIMIT $3`,
    },
    // After an empty page only: xmax, the next transaction id, to tell a checkpoint taken on another cluster.
    nextTransactionId: {
      name: n("next_xid"),
      text: "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next_transaction_id",
    },
    loadSnapshot: {
      name: n("load_snapshot"),
      text: `SELECT version, schema_version, state, saved_at FROM ${s}.snapshots WHERE stream_id = $1`,
    },
    saveSnapshot: {
      name: n("save_snapshot"),
      text: `INSERT INTO ${s}.snapshots AS sn (stream_id, version, state, schema_version)
VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (stream_id) DO UPDATE
  SET version = EXCLUDED.version, state = EXCLUDED.state, schema_version = EXCLUDED.schema_version,
      saved_at = now()
  WHERE sn.version <= EXCLUDED.version OR sn.schema_version <> EXCLUDED.schema_version`,
    },
  };
}
