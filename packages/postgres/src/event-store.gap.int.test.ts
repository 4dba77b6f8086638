/**
 * The sequence-gap case (issue 4): positions are taken in one order and committed in another. A reader that
 * followed positions alone would skip the slower transaction's event for ever; `readAll` must hold the later
 * commit back until the older transaction ends, and must not stall on one that rolls back.
 */
import { type Checkpoint, createEvent, type EventStore, START, type StoredEvent } from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresEventStore } from "./index.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `gap_${uniqueId()}`;
const pool = new pg.Pool({ connectionString, max: 6 });
pool.on("error", () => {});
const store: EventStore = createPostgresEventStore({ pool, schema });

afterAll(async () => {
  await store.close();
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

const event = (subject: string) =>
  createEvent({ type: "gap.item.added.v1", source: "gap-test", subject, data: { subject } });

async function head(): Promise<Checkpoint> {
  let after = START;
  for (;;) {
    const page = await store.readAll({ after });
    if (page.events.length === 0) return after;
    after = page.checkpoint;
  }
}

/** Starts a store transaction that appends and then waits, holding its position, until released. */
function openTransaction(streamId: string, outcome: "commit" | "rollback") {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let positioned: (position: bigint) => void = () => {};
  const position = new Promise<bigint>((resolve) => {
    positioned = resolve;
  });
  const done = store
    .transaction(async (tx) => {
      const r = await tx.append(streamId, [event(streamId)]);
      positioned(r.firstPosition);
      await gate;
      if (outcome === "rollback") throw new Error("rolled back on purpose");
    })
    .catch((err: unknown) => {
      if (outcome === "commit") throw err;
    });
  return { position, release, done };
}

const ours = (events: readonly StoredEvent[], streams: readonly string[]) =>
  events.filter((e) => streams.includes(e.streamId));

describe("readAll across a sequence gap (PostgreSQL)", () => {
  it("holds back a later commit until the older transaction commits, then returns both in order", async () => {
    const start = await head();
    const a = `gap-a-${uniqueId()}`;
    const b = `gap-b-${uniqueId()}`;
    const slow = openTransaction(a, "commit");
    const aPosition = await slow.position;
    const bResult = await store.append(b, [event(b)]);
    expect(bResult.firstPosition).toBeGreaterThan(aPosition);
    // B is committed and readable by stream...
    expect(await store.version(b)).toBe(1);
    // ...but not through readAll, while A, which took an earlier position, is still open.
    const early = await store.readAll({ after: start });
    expect(ours(early.events, [a, b])).toEqual([]);

    slow.release();
    await slow.done;
    const seen: StoredEvent[] = [];
    let after = early.checkpoint;
    await waitFor(async () => {
      const page = await store.readAll({ after });
      seen.push(...ours(page.events, [a, b]));
      after = page.checkpoint;
      return seen.length >= 2;
    });
    expect(seen.map((e) => e.streamId)).toEqual([a, b]);
    const [ea, eb] = seen as [StoredEvent, StoredEvent];
    expect(ea.position).toBe(aPosition);
    expect(eb.position).toBe(bResult.firstPosition);
    expect(ea.transactionId).toBeLessThan(eb.transactionId);
  });

  it("does not stall on a rolled-back transaction's gap", async () => {
    const start = await head();
    const c = `gap-c-${uniqueId()}`;
    const d = `gap-d-${uniqueId()}`;
    const doomed = openTransaction(c, "rollback");
    const cPosition = await doomed.position;
    const dResult = await store.append(d, [event(d)]);
    expect(dResult.firstPosition).toBeGreaterThan(cPosition);
    expect(ours((await store.readAll({ after: start })).events, [c, d])).toEqual([]);

    doomed.release();
    await doomed.done;
    const seen = await waitFor(async () => {
      const found = ours((await store.readAll({ after: start })).events, [c, d]);
      return found.length > 0 ? found : undefined;
    });
    expect(seen.map((e) => e.streamId)).toEqual([d]);
    expect(await store.version(c)).toBe(0);
  });

  it("sees a transaction written by plain SQL on another connection only once it commits", async () => {
    // The same guarantee for a writer outside the store (e.g. a service's own transaction on its own client).
    const start = await head();
    const e = `gap-e-${uniqueId()}`;
    const f = `gap-f-${uniqueId()}`;
    const writer = new pg.Client({ connectionString });
    writer.on("error", () => {});
    await writer.connect();
    try {
      await writer.query("BEGIN");
      await writer.query(
        `INSERT INTO ${schema}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
         VALUES ($1, 1, $2, 'gap.item.added.v1', '1.0', '{}', $3)`,
        [
          e,
          `id-${uniqueId()}`,
          JSON.stringify({
            source: "gap-test",
            subject: e,
            time: new Date().toISOString(),
            datacontenttype: "application/json",
            correlationid: "c",
          }),
        ],
      );
      await store.append(f, [event(f)]);
      expect(ours((await store.readAll({ after: start })).events, [e, f])).toEqual([]);
      await writer.query("COMMIT");
    } finally {
      await writer.end();
    }
    const seen = await waitFor(async () => {
      const found = ours((await store.readAll({ after: start })).events, [e, f]);
      return found.length === 2 ? found : undefined;
    });
    expect(seen.map((x) => x.streamId)).toEqual([e, f]);
  });
});
