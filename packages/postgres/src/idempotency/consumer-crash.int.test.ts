import { fileURLToPath } from "node:url";
import { createEventBus, createEventRegistry, defineEvent } from "@slotwise/events";
import { spawnChildProcess, uniqueId, waitFor } from "@slotwise/events/testing";
import { createNatsTransport } from "@slotwise/nats";
import pg from "pg";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const pool = new pg.Pool({ connectionString, max: 2 });
pool.on("error", () => {});
afterAll(() => pool.end());

const CHILD = fileURLToPath(new URL("./fixtures/consumer-child.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../../dist/idempotency/index.js", import.meta.url));
const Written = defineEvent({ type: "crash.row.requested.v1", schema: z.object({ n: z.number().int() }) });
const EVENTS = 10_000;

interface ChildLine {
  handled: number;
  duplicates: number;
}

/** A consumer process over `schema`, consuming `env`; its counter lines are collected. */
function spawnConsumer(env: string, schema: string) {
  const child = spawnChildProcess<ChildLine>({
    script: CHILD,
    requires: [BUILT],
    env: { DATABASE_URL: connectionString, NATS_URL: servers, CRASH_ENV: env, CRASH_SCHEMA: schema },
  });
  return { ...child, last: (): ChildLine | undefined => child.lines.at(-1) };
}

describe("a consumer killed mid-batch (SIGKILL) in a process of its own", () => {
  it("resumes in a new process, and every event's row exists exactly once", {
    timeout: 180_000,
  }, async () => {
    const env = `c${uniqueId(8)}`;
    const schema = `crash_${uniqueId()}`;
    const stream = `${env.toUpperCase()}_CRASH`;
    // No unique constraint on purpose: a second effect of one event would be a second row.
    await pool.query(
      `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.rows (event_id text NOT NULL, n integer NOT NULL)`,
    );
    const transport = await createNatsTransport({ servers, name: "crash-test" });
    onTestFinished(async () => {
      for (const s of [stream, `${env.toUpperCase()}_DLQ`])
        await transport.deleteStream(s).catch(() => false);
      await transport.close();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
    const count = async () =>
      Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.rows`)).rows[0].n);

    // The batch: 10,000 events in the stream before any consumer runs (the stream as the bus makes it).
    await transport.ensureStream({ name: stream, subjects: [`${env}.crash.>`] });
    const publisher = createEventBus({
      transport,
      service: "crash-feeder",
      env,
      registry: createEventRegistry().register(Written),
      provision: false,
    });
    for (let n = 0; n < EVENTS; n++) {
      await publisher.publishAsync(
        Written.create({ source: "crash-feeder", subject: `row-${n % 97}`, data: { n } }),
      );
    }
    await publisher.flush();
    expect((await transport.streamInfo(stream))?.messages).toBe(EVENTS);

    const first = spawnConsumer(env, schema);
    await waitFor(async () => (await count()) >= 2000, {
      timeoutMs: 60_000,
      intervalMs: 5,
      message: `the first consumer writes 2,000 rows (stderr: ${first.stderr()})`,
    });
    first.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    const atKill = await count();
    // Killed in the middle of the batch, with work in flight.
    expect(atKill).toBeGreaterThanOrEqual(2000);
    expect(atKill).toBeLessThan(EVENTS);

    const second = spawnConsumer(env, schema);
    await waitFor(
      async () => {
        if ((await count()) < EVENTS) return false;
        const info = await transport.consumerInfo(stream, "crash-writer");
        return info !== undefined && info.pending === 0 && info.ackPending === 0;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 100,
        message: `the second consumer finishes (stderr: ${second.stderr()})`,
      },
    );
    second.kill("SIGTERM");
    expect((await second.exited).code, second.stderr()).toBe(0);

    const { rows } = await pool.query(
      `SELECT count(*)::int AS total, count(DISTINCT event_id)::int AS distinct_ids, count(DISTINCT n)::int AS distinct_n,
         min(n) AS min_n, max(n) AS max_n FROM ${schema}.rows`,
    );
    expect(rows[0]).toEqual({
      total: EVENTS,
      distinct_ids: EVENTS,
      distinct_n: EVENTS,
      min_n: 0,
      max_n: EVENTS - 1,
    });
    const processed = await pool.query(
      `SELECT count(*)::int AS n FROM ${schema}.processed_events WHERE consumer = 'crash-writer'`,
    );
    expect(processed.rows[0].n).toBe(EVENTS);
    // The second process wrote what the first had not committed (a COMMIT already on its way when the
    // first died may still land after the count above, so at most that many).
    const resumed = second.last()?.handled ?? 0;
    expect(resumed).toBeGreaterThan(0);
    expect(resumed).toBeLessThanOrEqual(EVENTS - atKill);
  });
});
