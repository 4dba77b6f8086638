/**
 * The behaviour of a `ProcessedEventStore` and of `transactional`, written once; the PGlite file
 * (`processed-events.test.ts`) and the PostgreSQL file (`processed-events.int.test.ts`) wire a database.
 */
import {
  createEvent,
  createEventBus,
  createEventRegistry,
  createMemoryTransport,
  defineEvent,
  encodeEvent,
  isSlotwiseError,
} from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import type { SqlClient } from "../sql/sql-client.js";
import { createSqlProcessedEventStore, PROCESSED_EVENTS_TABLE } from "./processed-events.js";
import { transactional } from "./transactional.js";

export interface ProcessedEventsFixture {
  /** A client on the database; the suite creates one schema per test and drops it after. */
  client(): Promise<SqlClient>;
  /** Whether two transactions can run at once (PostgreSQL; PGlite has one connection). */
  concurrent: boolean;
}

const Added = defineEvent({ type: "idem.item.added.v1", schema: z.object({ n: z.number().int() }) });

export function runProcessedEventsSuite(name: string, fixture: ProcessedEventsFixture): void {
  describe(`processed events and transactional handlers: ${name}`, () => {
    async function setup() {
      const client = await fixture.client();
      const schema = `idem_${uniqueId()}`;
      const store = createSqlProcessedEventStore({ client, schema });
      await client.execute(
        `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.effects (event_id text NOT NULL, n integer)`,
      );
      onTestFinished(async () => {
        await client.execute(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await store.close();
      });
      const effects = async () =>
        (
          await client.query<{ event_id: string }>({ text: `SELECT event_id FROM ${schema}.effects` }, [])
        ).map((r) => r.event_id);
      const insert = { text: `INSERT INTO ${schema}.effects (event_id, n) VALUES ($1, $2)` };
      return { client, schema, store, effects, insert };
    }

    it("runs the work once per (consumer, event id) and reports the second run as a duplicate", async () => {
      const { store, effects, insert } = await setup();
      const first = await store.runOnce("svc-a", "e1", async (tx) => {
        await tx.query(insert, ["e1", 1]);
        return "done";
      });
      expect(first).toEqual({ duplicate: false, value: "done" });
      let ranAgain = false;
      const second = await store.runOnce("svc-a", "e1", async () => {
        ranAgain = true;
      });
      expect(second).toEqual({ duplicate: true });
      expect(ranAgain).toBe(false);
      expect(await effects()).toEqual(["e1"]);
      // Another consumer is another scope.
      expect(
        (await store.runOnce("svc-b", "e1", async (tx) => void (await tx.query(insert, ["e1", 2]))))
          .duplicate,
      ).toBe(false);
      expect(await store.has("svc-a", "e1")).toBe(true);
      expect(await store.has("svc-a", "e2")).toBe(false);
    });

    it("records nothing when the work fails, so the retry runs it in full", async () => {
      const { store, effects, insert } = await setup();
      await expect(
        store.runOnce("svc", "e1", async (tx) => {
          await tx.query(insert, ["e1", 1]);
          throw new Error("boom after the write");
        }),
      ).rejects.toThrow("boom after the write");
      expect(await store.has("svc", "e1")).toBe(false);
      expect(await effects()).toEqual([]);
      expect(
        (await store.runOnce("svc", "e1", async (tx) => void (await tx.query(insert, ["e1", 1])))).duplicate,
      ).toBe(false);
      expect(await effects()).toEqual(["e1"]);
    });

    it("prunes old records, optionally for one consumer", async () => {
      const { client, schema, store } = await setup();
      for (const c of ["a", "b"]) for (const id of ["1", "2"]) await store.runOnce(c, id, async () => {});
      await client.execute(
        `UPDATE ${schema}.${PROCESSED_EVENTS_TABLE} SET processed_at = now() - interval '2 days' WHERE event_id = '1'`,
      );
      const dayAgo = new Date(Date.now() - 86_400_000);
      expect(await store.prune({ olderThan: dayAgo, consumer: "a" })).toBe(1);
      expect(await store.prune({ olderThan: dayAgo })).toBe(1);
      expect(await store.has("b", "1")).toBe(false);
      expect(await store.has("b", "2")).toBe(true);
    });

    it("refuses empty or oversized ids with INVALID_OPTIONS", async () => {
      const { store } = await setup();
      const err = await store.runOnce("", "e", async () => {}).catch((e: unknown) => e);
      expect(isSlotwiseError(err, "INVALID_OPTIONS")).toBe(true);
      expect(
        await store.has("c", "x".repeat(513)).catch((e: unknown) => isSlotwiseError(e, "INVALID_OPTIONS")),
      ).toBe(true);
    });

    // PGlite has one connection: a second transaction cannot start while the first is open.
    if (fixture.concurrent) {
      it("lets only one of two concurrent deliveries of an event run, the other waits and sees the duplicate", async () => {
        const { store, effects, insert } = await setup();
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let entered!: () => void;
        const firstIn = new Promise<void>((r) => {
          entered = r;
        });
        const first = store.runOnce("svc", "e1", async (tx) => {
          await tx.query(insert, ["e1", 1]);
          entered();
          await gate;
        });
        await firstIn;
        const second = store.runOnce("svc", "e1", async (tx) => void (await tx.query(insert, ["e1", 2])));
        release();
        expect(await first).toEqual({ duplicate: false, value: undefined });
        expect(await second).toEqual({ duplicate: true });
        expect(await effects()).toEqual(["e1"]);
      });
    }

    it("as a bus handler: a failed attempt rolls back, and a redelivered event changes nothing and is reported as a duplicate", async () => {
      const { store, effects, insert } = await setup();
      const transport = createMemoryTransport();
      const duplicates: string[] = [];
      const skipped: string[] = [];
      const bus = createEventBus({
        transport,
        service: "idem",
        env: "dev",
        registry: createEventRegistry().register(Added),
        observer: { skipped: (i) => void skipped.push(`${i.reason}:${i.event?.id}`) },
      });
      onTestFinished(() => bus.close());
      const attempts: number[] = [];
      bus.handle({
        name: "projector",
        types: [Added],
        // Only the database remembers, as after a restart: the bus's in-process dedupe is off.
        dedupe: false,
        retry: { attempts: 5, baseMs: 1, capMs: 5 },
        handler: transactional<{ n: number }>(
          { store, onDuplicate: (e, consumer) => void duplicates.push(`${consumer}:${e.id}`) },
          async (event, tx, ctx) => {
            attempts.push(ctx.attempt);
            await tx.query(insert, [event.id, event.data.n]);
            if (ctx.attempt === 1) throw new Error("fails after its write");
          },
        ),
      });
      await bus.start();
      const event = createEvent({ type: Added.type, source: "idem", subject: "item-1", data: { n: 1 } });
      await bus.publish(event);
      await waitFor(async () => (await effects()).length === 1, { message: "the retry commits" });
      expect(attempts).toEqual([1, 2]);

      // The same event again as a second message (a re-publish after the duplicate window).
      await transport.publish({ subject: `dev.${Added.type}`, data: encodeEvent(event) });
      await waitFor(() => skipped.length === 1, { message: "the redelivery is skipped as a duplicate" });
      expect(skipped).toEqual([`duplicate:${event.id}`]);
      expect(duplicates).toEqual([`idem-projector:${event.id}`]);
      // Skipped before the handler ran.
      expect(attempts).toEqual([1, 2]);
      expect(await effects()).toEqual([event.id]);
    });
  });
}
