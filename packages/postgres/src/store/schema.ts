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
 * `streams`: each stream's current version. Its row is the append's lock and version check in one: an
 * append is one statement that updates (or inserts) this row and inserts the events.
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

/**
 * The first CTE of an append: it locks the stream's row, checks the version and moves it on, returning the
 * version before the append as `base`; when the check fails it returns no row, so nothing is inserted.
 * Parameters: $1 stream, $2 count, $3 expected version (mode "expected" only).
 */
function streamCte(s: string, mode: AppendMode): string {
  switch (mode) {
    case "expected":
      return `UPDATE ${s}.streams SET version = version + $2 WHERE stream_id = $1 AND version = $3
  RETURNING version - $2 AS base`;
    case "new":
      return `INSERT INTO ${s}.streams (stream_id, version) VALUES ($1, $2)
  ON CONFLICT (stream_id) DO NOTHING RETURNING 0 AS base`;
    case "any":
      return `INSERT INTO ${s}.streams AS st (stream_id, version) VALUES ($1, $2)
  ON CONFLICT (stream_id) DO UPDATE SET version = st.version + EXCLUDED.version
  RETURNING st.version - $2 AS base`;
  }
}

/** Parameters before the events' own. */
export function fixedParams(mode: AppendMode): number {
  return mode === "expected" ? 3 : 2;
}

/** The append statement for `count` events: one statement, one round trip. */
function appendText(s: string, mode: AppendMode, count: number): string {
  const first = fixedParams(mode) + 1;
  let source: string;
  if (count <= MAX_VALUES_BATCH) {
    const rows = new Array<string>(count);
    for (let j = 0; j < count; j++) {
      const b = first + j * 5;
      rows[j] =
        `($${b}::text, $${b + 1}::text, $${b + 2}::text, $${b + 3}::jsonb, $${b + 4}::jsonb, ${j + 1})`;
    }
    source = `(VALUES ${rows.join(", ")}) AS e(id, type, version, data, metadata, ord)`;
  } else {
    source = `(SELECT x->>'i' AS id, x->>'t' AS type, x->>'v' AS version, x->'d' AS data, x->'m' AS metadata, ord
    FROM jsonb_array_elements($${first}::jsonb) WITH ORDINALITY AS j(x, ord)) AS e`;
  }
  return `WITH stream AS (${streamCte(s, mode)}),
appended AS (
  INSERT INTO ${s}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
  SELECT $1, stream.base + e.ord, e.id, e.type, e.version, e.data, e.metadata
  FROM stream, ${source}
  ORDER BY e.ord
  RETURNING position, stream_version
)
SELECT min(position)::text AS first_position, max(position)::text AS last_position,
  max(stream_version) AS next_version
FROM appended`;
}

const EVENT_COLUMNS =
  "position::text AS position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, transaction_id::text AS transaction_id";

export interface Statements {
  /** The append of `count` events (see `appendText` for its parameters); built once per mode and size. */
  append(mode: AppendMode, count: number): SqlStatement;
  /** $1 stream */
  version: SqlStatement;
  /** $1 stream, $2 from, $3 to */
  read: SqlStatement;
  /** $1 stream, $2 from, $3 to, $4 asOf */
  readAsOf: SqlStatement;
  /** $1 after transaction id, $2 after position, $3 limit */
  readAll: SqlStatement;
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
  return {
    append(mode, count) {
      // Larger batches share one JSON statement per mode; VALUES statements are prepared per size.
      const size = count <= MAX_VALUES_BATCH ? count : 0;
      const key = `${mode}${size}`;
      let statement = appends.get(key);
      if (statement === undefined) {
        statement = { name: n(`append_${mode}_${size}`), text: appendText(s, mode, count) };
        appends.set(key, statement);
      }
      return statement;
    },
    version: { name: n("version"), text: `SELECT version FROM ${s}.streams WHERE stream_id = $1` },
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
    // still commit before the rows returned. xmax (the next transaction id) detects a checkpoint taken on
    // another cluster. The LEFT JOIN returns one row even when no event is visible.
    readAll: {
      name: n("read_all"),
      text: `WITH snap AS (SELECT pg_current_snapshot() AS s)
SELECT pg_snapshot_xmax(snap.s)::text AS next_transaction_id, e.*
FROM snap LEFT JOIN LATERAL (
  SELECT ${EVENT_COLUMNS} FROM ${s}.events AS ev
  WHERE (ev.transaction_id, ev.position) > ($1::xid8, $2::bigint)
    AND ev.transaction_id < pg_snapshot_xmin(snap.s)
  ORDER BY ev.transaction_id, ev.position
  LIMIT $3
) AS e ON true`,
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
