import {
  type CloudEvent,
  createEventBus,
  createEventRegistry,
  createPublisher,
  defineEvent,
  type EventBus,
  isSlotwiseError,
} from "@slotwise/events";
import { sleep, uniqueId, waitFor } from "@slotwise/events/testing";
import { createNatsTransport, startNatsServer } from "@slotwise/nats";
import pg from "pg";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { createPostgresProcessedEventStore } from "./processed-events.js";
import { transactional } from "./transactional.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const pool = new pg.Pool({ connectionString, max: 6 });
pool.on("error", () => {});
afterAll(() => pool.end());

const Placed = defineEvent({ type: "restart.order.placed.v1", schema: z.object({ n: z.number().int() }) });
const registry = () => createEventRegistry().register(Placed);
const OUTAGE_MS = 5_000;
const WORKERS = 4;

describe("a broker restart under load (a nats-server of the test's own)", () => {
  it("handles every event the publisher reported as published exactly once in effect, and reports every failure", {
    timeout: 120_000,
  }, async () => {
    const server = await startNatsServer();
    onTestFinished(() => server.dispose());
    const env = `b${uniqueId(8)}`;
    const schema = `brestart_${uniqueId()}`;
    // No unique constraint on purpose: a second effect of one event would be a second row.
    await pool.query(
      `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.rows (event_id text NOT NULL, n integer NOT NULL)`,
    );
    onTestFinished(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
    const store = createPostgresProcessedEventStore({ pool, schema });
    const connect = (name: string) =>
      createNatsTransport({ servers: server.url, name, reconnect: { timeWaitMs: 250, jitterMs: 50 } });

    // The consumer: one row per event, in the transaction that records the event as processed.
    const consumerTransport = await connect("restart-consumer");
    const consumer: EventBus = createEventBus({
      transport: consumerTransport,
      service: "restart",
      env,
      registry: registry(),
      deadLetterSweeper: false,
      watchdog: { stallAfterMs: 1500, checkIntervalMs: 250 },
    });
    onTestFinished(() => consumer.close());
    const insert = { text: `INSERT INTO ${schema}.rows (event_id, n) VALUES ($1, $2)` };
    consumer.handle({
      name: "writer",
      types: [Placed],
      maxInFlight: 32,
      ackWaitMs: 3000,
      retry: { attempts: 50, baseMs: 50, capMs: 500 },
      handler: transactional<{ n: number }>({ store }, async (event, tx) => {
        await tx.query(insert, [event.id, event.data.n]);
      }),
    });
    await consumer.start();

    // Two publishers, each with workers publishing until told to stop; every outcome is recorded. The bus's
    // rides through the outage (it retries an ambiguous publish with the same msg id for 30 s); the other,
    // the same publisher with a 2 s deadline, must give up during the outage and say so.
    const publisherTransport = await connect("restart-publisher");
    const publisher = createEventBus({
      transport: publisherTransport,
      service: "restart-feeder",
      env,
      registry: registry(),
      provision: false,
    });
    onTestFinished(() => publisher.close());
    const impatient = createPublisher({
      transport: publisherTransport,
      env,
      registry: registry(),
      timeoutMs: 1000,
      deadlineMs: 2000,
    });
    const attempted = new Set<string>();
    const published = new Set<string>();
    const failed = new Map<string, unknown>();
    let running = true;
    let next = 0;
    const worker = async (publish: (event: CloudEvent) => Promise<unknown>) => {
      while (running) {
        const n = next++;
        const event = Placed.create({ source: "restart-feeder", subject: `order-${n % 16}`, data: { n } });
        attempted.add(event.id);
        try {
          await publish(event);
          published.add(event.id);
        } catch (error) {
          failed.set(event.id, error);
        }
        await sleep(5);
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, i) =>
      worker(i % 2 === 0 ? (e) => publisher.publish(e) : (e) => impatient.publish(e)),
    );

    await waitFor(() => published.size >= 200, { timeoutMs: 20_000, message: "publishing runs" });
    await server.stop("SIGTERM");
    const publishedBeforeStop = published.size;
    await sleep(OUTAGE_MS);
    await server.start();
    // Publishing goes on after the restart (the workers blocked in retries resume first).
    await waitFor(() => published.size >= publishedBeforeStop + 200, {
      timeoutMs: 60_000,
      message: "publishing resumes after the restart",
    });
    running = false;
    await Promise.all(workers);

    // The publisher accounts for every attempt; a failure is a typed error it could not retry.
    expect(published.size + failed.size).toBe(attempted.size);
    expect(failed.size).toBeGreaterThan(0);
    for (const error of failed.values()) {
      // TIMEOUT / UNAVAILABLE while the server is down; NOT_FOUND while it is still loading its streams.
      const typed = ["TIMEOUT", "UNAVAILABLE", "NOT_FOUND"] as const;
      expect(
        typed.some((code) => isSlotwiseError(error, code)),
        String(error),
      ).toBe(true);
    }

    const ids = [...published];
    const handledOnce = async () => {
      const { rows } = await pool.query(
        `SELECT count(DISTINCT event_id)::int AS n FROM ${schema}.rows WHERE event_id = ANY($1::text[])`,
        [ids],
      );
      return rows[0].n === ids.length;
    };
    await waitFor(handledOnce, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: "every published event is handled",
    });
    await waitFor(
      async () => {
        const info = await consumerTransport.consumerInfo(`${env.toUpperCase()}_RESTART`, "restart-writer");
        return info !== undefined && info.pending === 0 && info.ackPending === 0;
      },
      { timeoutMs: 30_000, intervalMs: 200, message: "the consumer has settled everything" },
    );

    const twice = await pool.query(
      `SELECT event_id, count(*)::int AS n FROM ${schema}.rows GROUP BY event_id HAVING count(*) > 1`,
    );
    expect(twice.rows).toEqual([]);
    const all = await pool.query<{ event_id: string }>(`SELECT event_id FROM ${schema}.rows`);
    // Nothing unknown was handled; a failed publish may still have been stored (it was ambiguous first).
    for (const r of all.rows) expect(attempted.has(r.event_id)).toBe(true);
    const handledFailures = all.rows.filter((r) => failed.has(r.event_id)).length;
    expect(all.rows.length).toBe(published.size + handledFailures);
    expect(consumer.health()[0]).toMatchObject({ consumer: "restart-writer", state: "ok" });
  });
});
