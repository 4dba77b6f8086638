/**
 * What the store benches (append, read, relay) share: the events, the databases, the contenders.
 *
 * - Ours: `createPostgresEventStore` in a schema of its own per run (dropped after), on a pool of its own
 *   with pg's default type parsers (see `createPool`).
 * - Raw: the fastest SQL with the same guarantee, through `pg`: one multi-row INSERT into a table shaped
 *   like ours (same columns, defaults and indexes), the unique (stream, version) constraint catching
 *   conflicts; also in a schema of its own.
 * - Emmett: `@event-driven-io/emmett-postgresql`, which creates its own tables in the database it is given:
 *   a dedicated database, `slotwise_bench_emmett`, created when absent and emptied at the start of a run.
 */
import { randomUUID } from "node:crypto";
import {
  type PostgresEventStore as EmmettStore,
  getPostgreSQLEventStore,
} from "@event-driven-io/emmett-postgresql";
import { type CloudEvent, createEvent, encodeEvent } from "@slotwise/events";
import { MIGRATIONS } from "@slotwise/postgres";
import pg from "pg";

export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";
export const EMMETT_DATABASE = "slotwise_bench_emmett";

export function databaseUrl(): string {
  return process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
}

export function natsUrl(): string {
  return process.env.NATS_URL ?? "nats://127.0.0.1:4222";
}

/** A short random id for schema, stream and env names of one run. */
export function runId(): string {
  return randomUUID().replace(/-/g, "").slice(0, 8);
}

const SERVICES = ["haircut-45", "massage-60", "consult-30", "colour-90", "nails-30"];

/** A booking confirmation of about 600 bytes on the wire, on the given subject (the aggregate id). */
export function bookingEvent(i: number, subject: string): CloudEvent {
  const start = new Date(Date.UTC(2025, 5, 2, 9, 0) + (i % 5_000) * 15 * 60_000);
  return createEvent({
    type: "booking.appointment.confirmed.v1",
    source: "booking-service",
    subject,
    correlationid: randomUUID(),
    data: {
      bookingId: subject,
      businessId: `biz_${(i % 97).toString().padStart(4, "0")}`,
      customerId: `cus_${randomUUID()}`,
      serviceId: SERVICES[i % SERVICES.length],
      staffId: `stf_${(i % 23).toString().padStart(3, "0")}`,
      startsAt: start.toISOString(),
      endsAt: new Date(start.getTime() + 45 * 60_000).toISOString(),
      price: { amount: 4_500 + (i % 7) * 250, currency: "EUR" },
      channel: i % 3 === 0 ? "web" : "mobile",
      notes: "Window seat please; allergic to lavender oil.",
    },
    metadata: { tenant: "acme" },
  });
}

export function averageWireBytes(events: readonly CloudEvent[]): number {
  let total = 0;
  for (const e of events) total += encodeEvent(e).length;
  return Math.round(total / Math.max(1, events.length));
}

/**
 * pg's own parsers for the types that Emmett's driver (dumbo) replaces process-wide once its store opens:
 * int8 as BigInt, json and jsonb through `JSON.parse` with a reviver (several times slower). Our store and
 * the raw baseline keep pg's defaults, as in any process without Emmett; Emmett keeps its own.
 */
const PG_DEFAULT_PARSERS = new Map<number, (value: string) => unknown>([
  [20, (value) => value], // int8: the text
  [114, (value) => JSON.parse(value)], // json
  [3802, (value) => JSON.parse(value)], // jsonb
]);

const PG_DEFAULT_TYPES = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (format !== "binary") {
      const parser = PG_DEFAULT_PARSERS.get(oid);
      if (parser) return parser;
    }
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * A pool with pg's default type parsers (`types: "pg"`), whatever Emmett set process-wide, or with the
 * process-wide ones (`"global"`, for Emmett's own pool).
 */
export function createPool(
  max: number,
  connectionString = databaseUrl(),
  types: "pg" | "global" = "pg",
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    ...(types === "pg" ? { types: PG_DEFAULT_TYPES } : {}),
  });
  pool.on("error", () => {});
  return pool;
}

/**
 * A raw table shaped exactly like the store's `events` table (the store's own migrations, run on another
 * schema), so the baseline writes and reads the same rows through plain SQL.
 */
export async function createRawSchema(pool: pg.Pool, schema: string): Promise<void> {
  const s = `"${schema}"`;
  if (MIGRATIONS.length === 0) throw new Error("the store has no migrations");
  await pool.query(`CREATE SCHEMA ${s}`);
  for (const m of MIGRATIONS) await pool.query(m.sql(s));
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** The raw baseline's append: one multi-row INSERT; versions from the caller; conflicts by the constraint. */
export function rawAppendStatement(schema: string, count: number): string {
  const rows: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = i * 7;
    rows.push(
      `($${p + 1}::text, $${p + 2}::integer, $${p + 3}::text, $${p + 4}::text, $${p + 5}::text, $${p + 6}::jsonb, $${p + 7}::jsonb)`,
    );
  }
  return `INSERT INTO "${schema}".events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
VALUES ${rows.join(", ")}`;
}

/** The parameters of `rawAppendStatement` for `events` appended after `version`. */
export function rawAppendParams(streamId: string, version: number, events: readonly CloudEvent[]): unknown[] {
  const params: unknown[] = [];
  events.forEach((e, i) => {
    const { id, type, version: schemaVersion, data, metadata, specversion: _s, ...envelope } = e;
    params.push(
      streamId,
      version + i + 1,
      id,
      type,
      schemaVersion,
      JSON.stringify(data),
      JSON.stringify({ ...envelope, ...metadata }),
    );
  });
  return params;
}

/** Emmett's store on its dedicated database (created when absent, emptied first). */
export async function openEmmett(poolSize: number): Promise<{ store: EmmettStore; close(): Promise<void> }> {
  const admin = createPool(1);
  try {
    await admin.query(`CREATE DATABASE ${EMMETT_DATABASE}`);
  } catch (err) {
    // 42P04: exists already; 23505: another run created it at the same moment.
    const code = (err as { code?: string }).code;
    if (code !== "42P04" && code !== "23505") throw err;
  } finally {
    await admin.end();
  }
  const url = new URL(databaseUrl());
  url.pathname = `/${EMMETT_DATABASE}`;
  const pool = createPool(poolSize, url.toString(), "global");
  const store = getPostgreSQLEventStore(url.toString(), { connectionOptions: { pool } });
  await store.schema.migrate();
  await store.schema.dangerous.truncate({ resetSequences: true });
  return {
    store,
    async close() {
      await store.close();
      await pool.end().catch(() => undefined);
    },
  };
}

/** The same event as Emmett takes it: type, data, and the rest of the envelope as metadata. */
export function toEmmett(e: CloudEvent): {
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
} {
  const { type, data, metadata, specversion: _s, ...envelope } = e;
  return { type, data: data as Record<string, unknown>, metadata: { ...envelope, ...metadata } };
}
