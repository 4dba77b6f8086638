/**
 * Races the conformance suite cannot stage on every store: an append that waits on another transaction's
 * claim of the stream's next version (the unique index entry), then finds it taken. Inside a store
 * transaction the conflict must leave the transaction usable; "any" must try again, a bounded number of
 * times.
 */
import { ConcurrencyError, createEvent, ErrorCode, isSlotwiseError } from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresEventStore } from "./index.js";
import { createPgClient } from "./postgres-event-store.js";
import { createSqlEventStore } from "./store/sql-event-store.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `race_${uniqueId()}`;
const pool = new pg.Pool({ connectionString, max: 6 });
pool.on("error", () => {});
const store = createPostgresEventStore({ pool, schema });

afterAll(async () => {
  await store.close();
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

const event = (subject: string) =>
  createEvent({ type: "race.item.added.v1", source: "race-test", subject, data: { subject } });

/** A store transaction that appends, then holds its claim until released. */
function holdAppend(streamId: string, expectedVersion: number | "any") {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let appended = () => {};
  const inside = new Promise<void>((resolve) => {
    appended = resolve;
  });
  const done = store.transaction(async (tx) => {
    await tx.append(streamId, [event(streamId), event(streamId)], { expectedVersion });
    appended();
    await gate;
  });
  return { inside, release, done };
}

/** Resolves once `count` statements on this schema wait for a lock. */
async function waitingOnLock(count: number): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND query LIKE $1 AND pid <> pg_backend_pid()`,
        [`%"${schema}".events%`],
      );
      return (rows[0]?.n ?? 0) >= count;
    },
    { message: `${count} appends waiting on the stream's next version` },
  );
}

describe("PostgreSQL append races", () => {
  it("reports a conflict found after waiting inside a transaction, and the transaction still commits", async () => {
    const s = `race-tx-${uniqueId()}`;
    const other = `race-other-${uniqueId()}`;
    await store.append(s, [event(s)]);
    const first = holdAppend(s, 1);
    await first.inside;
    const second = store.transaction(async (tx) => {
      const err = await tx.append(s, [event(s)], { expectedVersion: 1 }).catch((e: unknown) => e);
      await tx.append(other, [event(other)], { expectedVersion: "no-stream" });
      return err;
    });
    await waitingOnLock(1);
    first.release();
    await first.done;
    const err = await second;
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect((err as ConcurrencyError).details).toEqual({ streamId: s, expected: 1, actual: 3 });
    expect(await store.version(other)).toBe(1);
    expect((await store.read(s)).map((e) => e.streamVersion)).toEqual([1, 2, 3]);
  });

  it('appends "any" after a concurrent append it waited for, inside a transaction too', async () => {
    const s = `race-any-${uniqueId()}`;
    const first = holdAppend(s, "any");
    await first.inside;
    const plain = store.append(s, [event(s)]);
    const inTx = store.transaction((tx) => tx.append(s, [event(s)]));
    await waitingOnLock(2);
    first.release();
    await first.done;
    const versions = [(await plain).nextVersion, (await inTx).nextVersion].sort();
    expect(versions).toEqual([3, 4]);
    expect((await store.read(s)).map((e) => e.streamVersion)).toEqual([1, 2, 3, 4]);
  });

  it("appends large batches (one JSON parameter) in a transaction, in order, and refuses a stale one", async () => {
    const s = `race-large-${uniqueId()}`;
    const batch = (n: number) => Array.from({ length: n }, () => event(s));
    const first = batch(150);
    const [a, b, err] = await store.transaction(async (tx) => {
      const r1 = await tx.append(s, first, { expectedVersion: "no-stream" });
      const r2 = await tx.append(s, batch(120), { expectedVersion: 150 });
      const stale = await tx.append(s, batch(101), { expectedVersion: 150 }).catch((e: unknown) => e);
      return [r1, r2, stale];
    });
    expect([a.nextVersion, b.nextVersion]).toEqual([150, 270]);
    expect((err as ConcurrencyError).details).toEqual({ streamId: s, expected: 150, actual: 270 });
    const read = await store.read(s);
    expect(read.map((e) => e.streamVersion)).toEqual(Array.from({ length: 270 }, (_, i) => i + 1));
    expect(read.slice(0, 150).map((e) => e.event)).toEqual(first);
    for (let i = 1; i < read.length; i++) {
      expect((read[i]?.position ?? 0n) > (read[i - 1]?.position ?? 0n)).toBe(true);
    }
    expect([a.firstPosition, b.lastPosition]).toEqual([read[0]?.position, read[269]?.position]);
  });

  it('gives up on "any" after maxAnyAttempts lost races, with a ConcurrencyError', async () => {
    const once = createSqlEventStore({
      client: createPgClient({ pool }),
      schema,
      notify: false,
      maxAnyAttempts: 1,
      onError: () => {},
    });
    try {
      const s = `race-give-up-${uniqueId()}`;
      const first = holdAppend(s, "any");
      await first.inside;
      const loser = once.append(s, [event(s)]).catch((e: unknown) => e);
      await waitingOnLock(1);
      first.release();
      await first.done;
      const err = await loser;
      expect(isSlotwiseError(err, ErrorCode.CONCURRENCY_CONFLICT)).toBe(true);
      expect((err as ConcurrencyError).details).toEqual({ streamId: s, expected: "any", actual: 2 });
      expect(await store.version(s)).toBe(2);
    } finally {
      await once.close();
    }
  });
});
