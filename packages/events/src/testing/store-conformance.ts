/**
 * The store conformance suite: every behaviour of the `EventStore` port, specified once and run on each
 * implementation (in-process, PGlite, PostgreSQL). A backend is done when this suite passes on it.
 *
 * ```ts
 * runStoreConformance("memory", { create: async (o) => createMemoryEventStore({ ...o, log }) });
 * ```
 *
 * Every test uses its own stream ids, so the suite may share one database schema per test file.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type CloudEvent, type CreateEventInput, createEvent } from "../envelope/index.js";
import { ConcurrencyError, ErrorCode, isSlotwiseError, type SlotwiseError } from "../errors/index.js";
import {
  type AppendResult,
  type Checkpoint,
  canListen,
  type EventStore,
  type ExpectedVersion,
  START,
  type StoredEvent,
} from "../store/event-store.js";
import type { SnapshotStore } from "../store/snapshot-store.js";
import type { Upcaster } from "../store/upcasting.js";
import { uniqueId, waitFor } from "./wait.js";

export interface StoreConformanceFactory {
  /**
   * A store over the backend's shared data: two stores created by one factory see the same events (the
   * upcaster test writes with one and reads with another).
   */
  create(options?: { upcasters?: readonly Upcaster[] }): Promise<EventStore>;
  /** Required when `features.snapshots` is on. */
  createSnapshotStore?(): Promise<SnapshotStore>;
  /** Runs once after the suite (drop the schema, close the database). */
  cleanup?(): Promise<void>;
}

/** What a backend promises beyond the port's core. The suite checks each claim, and its absence. */
export interface StoreConformanceFeatures {
  /** `StoreTransaction.query` runs SQL inside the store transaction (else it must throw UNSUPPORTED). @default false */
  sql?: boolean;
  /**
   * A transaction may stay open while other appends commit (separate connections). Off for a
   * single-connection database (PGlite), where an append waits for the open transaction. @default true
   */
  concurrentTransactions?: boolean;
  /** The store offers `listen` (`AppendNotifications`). @default false */
  listen?: boolean;
  /** The factory's `createSnapshotStore` works. @default true */
  snapshots?: boolean;
}

const SOURCE = "store-conformance";
const TYPE_V1 = "conformance.item.added.v1";
/** Only the upcaster test writes this type, so its upcasters never meet another test's events. */
const PERSON_V1 = "conformance.person.registered.v1";

function newStreamId(label: string): string {
  return `conformance-${label}-${uniqueId(12)}`;
}

function event(subject: string, n: number, extra: Partial<CreateEventInput> = {}): CloudEvent {
  return createEvent({ type: TYPE_V1, source: SOURCE, subject, data: { n }, ...extra });
}

function events(subject: string, count: number, from = 1): CloudEvent[] {
  return Array.from({ length: count }, (_, i) => event(subject, from + i));
}

async function rejection(promise: Promise<unknown>): Promise<SlotwiseError> {
  try {
    await promise;
  } catch (err) {
    if (isSlotwiseError(err)) return err;
    throw err;
  }
  throw new Error("expected the operation to fail");
}

function expectConflict(
  err: SlotwiseError,
  streamId: string,
  expected: ExpectedVersion,
  actual: number,
): void {
  expect(err.code).toBe(ErrorCode.CONCURRENCY_CONFLICT);
  expect(err).toBeInstanceOf(ConcurrencyError);
  expect(err.details).toEqual({ streamId, expected, actual });
  const c = err as ConcurrencyError;
  expect([c.streamId, c.expected, c.actual]).toEqual([streamId, expected, actual]);
}

/** Reads the log to its visible end and returns where it stands. */
async function head(store: EventStore): Promise<Checkpoint> {
  let after = START;
  for (;;) {
    const page = await store.readAll({ after, limit: 1000 });
    if (page.events.length === 0) return after;
    after = page.checkpoint;
  }
}

/** Follows the log from `after`, collecting the events of `streams`, until `count` of them arrived. */
async function follow(
  store: EventStore,
  after: Checkpoint,
  streams: ReadonlySet<string>,
  count: number,
  limit = 1000,
): Promise<{ events: StoredEvent[]; checkpoint: Checkpoint; pages: number }> {
  const collected: StoredEvent[] = [];
  let checkpoint = after;
  let pages = 0;
  await waitFor(
    async () => {
      for (;;) {
        const page = await store.readAll({ after: checkpoint, limit });
        if (page.events.length === 0) return collected.length >= count;
        expect(page.events.length).toBeLessThanOrEqual(limit);
        pages++;
        for (const e of page.events) if (streams.has(e.streamId)) collected.push(e);
        const last = page.events[page.events.length - 1] as StoredEvent;
        expect(page.checkpoint).toEqual({ transactionId: last.transactionId, position: last.position });
        checkpoint = page.checkpoint;
      }
    },
    { message: `${count} events of ${[...streams].join(", ")} in readAll` },
  );
  return { events: collected, checkpoint, pages };
}

/** The `n` in a test event's data. */
function nOf(stored: StoredEvent | undefined): number {
  return (stored?.event.data as { n: number } | undefined)?.n ?? Number.NaN;
}

function commitOrderKey(e: StoredEvent): [bigint, bigint] {
  return [e.transactionId, e.position];
}

function isSorted(list: readonly StoredEvent[]): boolean {
  for (let i = 1; i < list.length; i++) {
    const [t0, p0] = commitOrderKey(list[i - 1] as StoredEvent);
    const [t1, p1] = commitOrderKey(list[i] as StoredEvent);
    if (t1 < t0 || (t1 === t0 && p1 <= p0)) return false;
  }
  return true;
}

export function runStoreConformance(
  name: string,
  factory: StoreConformanceFactory,
  features: StoreConformanceFeatures = {},
): void {
  const sql = features.sql ?? false;
  const concurrentTransactions = features.concurrentTransactions ?? true;
  const listen = features.listen ?? false;
  const snapshots = features.snapshots ?? true;

  describe(`event store conformance: ${name}`, () => {
    const open: Array<{ close(): Promise<void> }> = [];
    const newStore = async (options?: { upcasters?: readonly Upcaster[] }): Promise<EventStore> => {
      const store = await factory.create(options);
      open.push(store);
      return store;
    };

    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    afterAll(async () => {
      await factory.cleanup?.();
    });

    describe("append and read", () => {
      it("reads back whole CloudEvents with every attribute, version and position", async () => {
        const store = await newStore();
        const streamId = newStreamId("whole");
        const full = createEvent({
          type: TYPE_V1,
          source: SOURCE,
          subject: streamId,
          id: `id-${uniqueId()}`,
          time: "2024-05-01T10:20:30.123456Z",
          datacontenttype: "application/json",
          data: {
            n: 1,
            nested: { list: [1, "two", null, true], text: 'naïve ✓ "quoted" \\ ' },
            big: 1.5e300,
          },
          correlationid: `corr-${uniqueId()}`,
          causationid: `cause-${uniqueId()}`,
          version: "1.3",
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          tracestate: "congo=t61rcWkgMzE",
          metadata: { tenant: "acme", region: "eu1" },
        });
        const minimal = event(streamId, 2);
        const nullData = event(streamId, 3, { data: null });
        const written = [full, minimal, nullData];
        const result = await store.append(streamId, written, { expectedVersion: "no-stream" });
        const read = await store.read(streamId);
        expect(read.map((s) => s.event)).toEqual(written);
        expect(read.map((s) => s.streamVersion)).toEqual([1, 2, 3]);
        for (const s of read) {
          expect(s.streamId).toBe(streamId);
          expect(typeof s.position).toBe("bigint");
          expect(typeof s.transactionId).toBe("bigint");
          expect(s.transactionId).toBeGreaterThan(0n);
          expect(s.recordedAt).toBeInstanceOf(Date);
          expect(Number.isNaN(s.recordedAt.getTime())).toBe(false);
        }
        // One append, one transaction; positions increase with versions.
        expect(new Set(read.map((s) => s.transactionId)).size).toBe(1);
        expect(isSorted(read)).toBe(true);
        expect(result).toEqual<AppendResult>({
          nextVersion: 3,
          firstPosition: read[0]?.position as bigint,
          lastPosition: read[2]?.position as bigint,
        });
      });

      it("reports version 0 and no events for a stream that does not exist", async () => {
        const store = await newStore();
        const streamId = newStreamId("missing");
        expect(await store.version(streamId)).toBe(0);
        expect(await store.read(streamId)).toEqual([]);
      });

      it("keeps versions contiguous across appends and reports the version", async () => {
        const store = await newStore();
        const streamId = newStreamId("versions");
        expect((await store.append(streamId, events(streamId, 2))).nextVersion).toBe(2);
        expect((await store.append(streamId, events(streamId, 3, 3))).nextVersion).toBe(5);
        expect(await store.version(streamId)).toBe(5);
        const read = await store.read(streamId);
        expect(read.map((s) => s.streamVersion)).toEqual([1, 2, 3, 4, 5]);
        expect(read.map(nOf)).toEqual([1, 2, 3, 4, 5]);
        expect(isSorted(read)).toBe(true);
      });

      it("appends a large batch in one go, in order", async () => {
        const store = await newStore();
        const streamId = newStreamId("large");
        const batch = events(streamId, 250);
        const result = await store.append(streamId, batch, { expectedVersion: "no-stream" });
        expect(result.nextVersion).toBe(250);
        await store.append(streamId, events(streamId, 150, 251), { expectedVersion: 250 });
        expectConflict(
          await rejection(store.append(streamId, events(streamId, 120, 401), { expectedVersion: 250 })),
          streamId,
          250,
          400,
        );
        const read = await store.read(streamId);
        expect(read.map(nOf)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
        expect(read.map((s) => s.streamVersion)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
        expect(read[0]?.event).toEqual(batch[0]);
        expect(isSorted(read)).toBe(true);
      });

      it("reads a version range with fromVersion and toVersion", async () => {
        const store = await newStore();
        const streamId = newStreamId("range");
        await store.append(streamId, events(streamId, 6));
        const versions = async (o: { fromVersion?: number; toVersion?: number }) =>
          (await store.read(streamId, o)).map((s) => s.streamVersion);
        expect(await versions({ fromVersion: 3 })).toEqual([3, 4, 5, 6]);
        expect(await versions({ toVersion: 2 })).toEqual([1, 2]);
        expect(await versions({ fromVersion: 2, toVersion: 4 })).toEqual([2, 3, 4]);
        expect(await versions({ fromVersion: 7 })).toEqual([]);
        expect(await versions({ fromVersion: 4, toVersion: 3 })).toEqual([]);
      });

      it("answers a temporal query: asOf leaves out events recorded after the time", async () => {
        const store = await newStore();
        const streamId = newStreamId("asof");
        await store.append(streamId, [event(streamId, 1)]);
        const [first] = await store.read(streamId);
        const recorded = (first as StoredEvent).recordedAt;
        // The next append must be recorded strictly later than the first (clocks count milliseconds).
        await waitFor(() => Date.now() > recorded.getTime() + 2);
        await store.append(streamId, [event(streamId, 2)]);
        const all = await store.read(streamId);
        expect(all.map((s) => s.streamVersion)).toEqual([1, 2]);
        expect((all[1] as StoredEvent).recordedAt.getTime()).toBeGreaterThan(recorded.getTime());

        expect((await store.read(streamId, { asOf: recorded })).map((s) => s.streamVersion)).toEqual([1]);
        const before = new Date(recorded.getTime() - 1);
        expect(await store.read(streamId, { asOf: before })).toEqual([]);
        const later = (all[1] as StoredEvent).recordedAt;
        expect((await store.read(streamId, { asOf: later })).map((s) => s.streamVersion)).toEqual([1, 2]);
      });

      it("treats an empty append as a version check that writes nothing", async () => {
        const store = await newStore();
        const streamId = newStreamId("empty");
        await store.append(streamId, events(streamId, 2));
        expect((await store.append(streamId, [], { expectedVersion: 2 })).nextVersion).toBe(2);
        expectConflict(await rejection(store.append(streamId, [], { expectedVersion: 1 })), streamId, 1, 2);
        expect(await store.version(streamId)).toBe(2);
      });

      it("refuses invalid arguments with INVALID_OPTIONS", async () => {
        const store = await newStore();
        const streamId = newStreamId("invalid");
        expect((await rejection(store.append("", [event(streamId, 1)]))).code).toBe(
          ErrorCode.INVALID_OPTIONS,
        );
        expect(
          (await rejection(store.append(streamId, [event(streamId, 1)], { expectedVersion: -1 }))).code,
        ).toBe(ErrorCode.INVALID_OPTIONS);
        expect((await rejection(store.read(streamId, { fromVersion: 1.5 }))).code).toBe(
          ErrorCode.INVALID_OPTIONS,
        );
        expect((await rejection(store.readAll({ limit: 0 }))).code).toBe(ErrorCode.INVALID_OPTIONS);
        expect(await store.version(streamId)).toBe(0);
      });

      it("fails with CLOSED once closed", async () => {
        const store = await factory.create();
        await store.close();
        const streamId = newStreamId("closed");
        expect((await rejection(store.append(streamId, [event(streamId, 1)]))).code).toBe(ErrorCode.CLOSED);
        expect((await rejection(store.read(streamId))).code).toBe(ErrorCode.CLOSED);
      });
    });

    describe("expected version", () => {
      it("appends when a number matches and refuses a stale or future one, naming both versions", async () => {
        const store = await newStore();
        const streamId = newStreamId("expected");
        await store.append(streamId, [event(streamId, 1)], { expectedVersion: 0 });
        await store.append(streamId, [event(streamId, 2)], { expectedVersion: 1 });
        expectConflict(
          await rejection(store.append(streamId, [event(streamId, 3)], { expectedVersion: 1 })),
          streamId,
          1,
          2,
        );
        // A version ahead of the stream would leave a gap: refused too.
        expectConflict(
          await rejection(store.append(streamId, [event(streamId, 3)], { expectedVersion: 5 })),
          streamId,
          5,
          2,
        );
        expect(await store.version(streamId)).toBe(2);
        expect((await store.read(streamId)).map((s) => s.streamVersion)).toEqual([1, 2]);
      });

      it("refuses a number on a stream that does not exist, with actual 0", async () => {
        const store = await newStore();
        const streamId = newStreamId("absent");
        expectConflict(
          await rejection(store.append(streamId, [event(streamId, 1)], { expectedVersion: 3 })),
          streamId,
          3,
          0,
        );
        expect(await store.version(streamId)).toBe(0);
      });

      it('"no-stream" creates the stream and refuses once it exists', async () => {
        const store = await newStore();
        const streamId = newStreamId("nostream");
        expect(
          (await store.append(streamId, events(streamId, 2), { expectedVersion: "no-stream" })).nextVersion,
        ).toBe(2);
        expectConflict(
          await rejection(store.append(streamId, [event(streamId, 3)], { expectedVersion: "no-stream" })),
          streamId,
          "no-stream",
          2,
        );
        expectConflict(
          await rejection(store.append(streamId, [event(streamId, 3)], { expectedVersion: 0 })),
          streamId,
          0,
          2,
        );
      });

      it('"any" (the default) appends whatever the version', async () => {
        const store = await newStore();
        const streamId = newStreamId("any");
        expect(
          (await store.append(streamId, [event(streamId, 1)], { expectedVersion: "any" })).nextVersion,
        ).toBe(1);
        expect((await store.append(streamId, events(streamId, 2, 2))).nextVersion).toBe(3);
        expect(await store.version(streamId)).toBe(3);
      });

      it("lets exactly one of 20 concurrent appenders with the same expected version win", async () => {
        const store = await newStore();
        const streamId = newStreamId("race");
        await store.append(streamId, [event(streamId, 0)]);
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            store.append(streamId, events(streamId, 2, 100 * (i + 1)), { expectedVersion: 1 }),
          ),
        );
        const won = outcomes.filter((o) => o.status === "fulfilled");
        const lost = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(19);
        for (const err of lost) {
          expect(isSlotwiseError(err, ErrorCode.CONCURRENCY_CONFLICT)).toBe(true);
          expectConflict(err as SlotwiseError, streamId, 1, 3);
        }
        const read = await store.read(streamId);
        expect(read.map((s) => s.streamVersion)).toEqual([1, 2, 3]);
        expect(new Set(read.map((s) => s.event.id)).size).toBe(3);
        expect(await store.version(streamId)).toBe(3);
      });

      it('lets exactly one of 20 concurrent "no-stream" appenders create the stream', async () => {
        const store = await newStore();
        const streamId = newStreamId("create-race");
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            store.append(streamId, [event(streamId, i)], { expectedVersion: "no-stream" }),
          ),
        );
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === "rejected") expectConflict(o.reason as SlotwiseError, streamId, "no-stream", 1);
        }
        expect((await store.read(streamId)).map((s) => s.streamVersion)).toEqual([1]);
      });

      it('serializes 20 concurrent "any" appenders without a gap or a duplicate version', async () => {
        const store = await newStore();
        const streamId = newStreamId("any-race");
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.append(streamId, events(streamId, 2, 10 * i))),
        );
        expect(results.map((r) => r.nextVersion).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 20 }, (_, i) => 2 * (i + 1)),
        );
        const read = await store.read(streamId);
        expect(read.map((s) => s.streamVersion)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        // Each append's two events are adjacent.
        for (let i = 0; i < 40; i += 2) {
          expect(nOf(read[i + 1])).toBe(nOf(read[i]) + 1);
        }
      });
    });

    describe("event ids", () => {
      it("refuses an event id that is already stored, writing nothing", async () => {
        const store = await newStore();
        const a = newStreamId("dup-a");
        const b = newStreamId("dup-b");
        const first = event(a, 1);
        await store.append(a, [first]);
        const again = { ...event(b, 1), id: first.id };
        const err = await rejection(store.append(b, [event(b, 0), again]));
        expect(err.code).toBe(ErrorCode.DUPLICATE_EVENT);
        expect(err.details.streamId).toBe(b);
        expect(await store.version(b)).toBe(0);
        expect(await store.version(a)).toBe(1);
      });

      it("refuses one batch holding an event id twice", async () => {
        const store = await newStore();
        const streamId = newStreamId("dup-batch");
        const e = event(streamId, 1);
        expect((await rejection(store.append(streamId, [e, e]))).code).toBe(ErrorCode.DUPLICATE_EVENT);
        expect(await store.version(streamId)).toBe(0);
      });
    });

    describe("readAll", () => {
      it("returns every stream in commit order, page by page with checkpoints and a limit", async () => {
        const store = await newStore();
        const start = await head(store);
        const a = newStreamId("all-a");
        const b = newStreamId("all-b");
        const c = newStreamId("all-c");
        const order: string[] = [];
        for (const [streamId, count] of [
          [a, 2],
          [b, 1],
          [c, 3],
          [a, 1],
          [b, 2],
        ] as const) {
          const batch = events(streamId, count, order.length + 1);
          await store.append(streamId, batch);
          order.push(...batch.map((e) => e.id));
        }
        const followed = await follow(store, start, new Set([a, b, c]), order.length, 2);
        expect(followed.events.map((e) => e.event.id)).toEqual(order);
        expect(isSorted(followed.events)).toBe(true);
        expect(followed.pages).toBeGreaterThanOrEqual(Math.ceil(order.length / 2));
        // At the end, nothing new: the checkpoint stays where it was.
        const end = await store.readAll({ after: followed.checkpoint });
        expect(end.events.filter((e) => [a, b, c].includes(e.streamId))).toEqual([]);
        if (end.events.length === 0) expect(end.checkpoint).toEqual(followed.checkpoint);
      });

      it("starts at START by default and honours the limit", async () => {
        const store = await newStore();
        const streamId = newStreamId("all-default");
        await store.append(streamId, events(streamId, 3));
        const first = await store.readAll({ limit: 1 });
        expect(first.events).toHaveLength(1);
        const all = await store.readAll();
        expect(all.events.length).toBeGreaterThanOrEqual(1);
        expect(all.events[0]).toEqual(first.events[0]);
        expect(isSorted(all.events)).toBe(true);
      });

      it("fails with INVALID_CHECKPOINT for a checkpoint ahead of the store, saying what to do", async () => {
        const store = await newStore();
        const err = await rejection(store.readAll({ after: { transactionId: 2n ** 60n, position: 1n } }));
        expect(err.code).toBe(ErrorCode.INVALID_CHECKPOINT);
        expect(String(err.details.remedy)).toMatch(/checkpoint/);
      });

      it("never skips an event that an older transaction commits after a newer append", async () => {
        const store = await newStore();
        const start = await head(store);
        const slow = newStreamId("gap-slow");
        const fast = newStreamId("gap-fast");
        if (!concurrentTransactions) {
          // One connection: the second append waits for the transaction; order is still commit order.
          await store.transaction(async (tx) => {
            await tx.append(slow, [event(slow, 1)]);
          });
          await store.append(fast, [event(fast, 2)]);
          const followed = await follow(store, start, new Set([slow, fast]), 2);
          expect(followed.events.map((e) => e.streamId)).toEqual([slow, fast]);
          return;
        }
        let release = () => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let appended = () => {};
        const inside = new Promise<void>((resolve) => {
          appended = resolve;
        });
        const slowTx = store.transaction(async (tx) => {
          await tx.append(slow, [event(slow, 1)]);
          appended();
          await gate;
        });
        await inside;
        await store.append(fast, [event(fast, 2)]);
        // Whatever a reader sees while the slow transaction is open...
        const early = await store.readAll({ after: start });
        const seenEarly = early.events.filter((e) => e.streamId === slow || e.streamId === fast);
        expect(seenEarly.map((e) => e.streamId)).not.toContain(slow);
        release();
        await slowTx;
        // ...following on from its checkpoint, it gets every event exactly once.
        const rest = await follow(
          store,
          early.checkpoint,
          new Set([slow, fast]),
          seenEarly.length === 0 ? 2 : 1,
        );
        const ids = [...seenEarly, ...rest.events].map((e) => e.streamId).sort();
        expect(ids).toEqual([fast, slow].sort());
      });

      it("does not stall on a rolled-back transaction's gap", async () => {
        const store = await newStore();
        const start = await head(store);
        const rolled = newStreamId("rolled");
        const after = newStreamId("after-rollback");
        const boom = new Error("roll back");
        await expect(
          store.transaction(async (tx) => {
            await tx.append(rolled, [event(rolled, 1)]);
            throw boom;
          }),
        ).rejects.toBe(boom);
        await store.append(after, [event(after, 2)]);
        const followed = await follow(store, start, new Set([rolled, after]), 1);
        expect(followed.events.map((e) => e.streamId)).toEqual([after]);
      });
    });

    describe("transactions", () => {
      it("commits the appends of a transaction together", async () => {
        const store = await newStore();
        const a = newStreamId("tx-a");
        const b = newStreamId("tx-b");
        const result = await store.transaction(async (tx) => {
          const r1 = await tx.append(a, events(a, 2), { expectedVersion: "no-stream" });
          const r2 = await tx.append(b, [event(b, 3)]);
          const r3 = await tx.append(a, [event(a, 4)], { expectedVersion: 2 });
          expectConflict(await rejection(tx.append(b, [event(b, 5)], { expectedVersion: 0 })), b, 0, 1);
          return [r1.nextVersion, r2.nextVersion, r3.nextVersion];
        });
        expect(result).toEqual([2, 1, 3]);
        const readA = await store.read(a);
        const readB = await store.read(b);
        expect(readA.map((s) => s.streamVersion)).toEqual([1, 2, 3]);
        expect(readB.map((s) => s.streamVersion)).toEqual([1]);
        expect(new Set([...readA, ...readB].map((s) => s.transactionId)).size).toBe(1);
      });

      it("rolls every append back when the work throws, and rethrows", async () => {
        const store = await newStore();
        const a = newStreamId("rb-a");
        const b = newStreamId("rb-b");
        await store.append(a, [event(a, 1)]);
        const boom = new Error("business rule failed");
        await expect(
          store.transaction(async (tx) => {
            await tx.append(a, [event(a, 2)], { expectedVersion: 1 });
            await tx.append(b, events(b, 2));
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.version(a)).toBe(1);
        expect(await store.version(b)).toBe(0);
        // The stream is free again.
        expect((await store.append(a, [event(a, 3)], { expectedVersion: 1 })).nextVersion).toBe(2);
      });

      if (sql) {
        it("runs SQL in the same transaction as the appends", async () => {
          const store = await newStore();
          const streamId = newStreamId("tx-sql");
          const xid = await store.transaction(async (tx) => {
            await tx.append(streamId, [event(streamId, 1)]);
            const rows = await tx.query<{ xid: string }>("SELECT pg_current_xact_id()::text AS xid");
            return rows[0]?.xid;
          });
          const [stored] = await store.read(streamId);
          expect(String(stored?.transactionId)).toBe(xid);
        });

        it("rolls the business writes back with the appends", async () => {
          const store = await newStore();
          const streamId = newStreamId("tx-sql-rb");
          const table = `conformance_${uniqueId()}`;
          await store.transaction(async (tx) => {
            await tx.query(`CREATE TABLE ${table} (id text PRIMARY KEY)`);
          });
          try {
            await expect(
              store.transaction(async (tx) => {
                await tx.query(`INSERT INTO ${table} (id) VALUES ($1)`, ["written"]);
                await tx.append(streamId, [event(streamId, 1)]);
                throw new Error("roll back");
              }),
            ).rejects.toThrow("roll back");
            const rows = await store.transaction((tx) => tx.query(`SELECT id FROM ${table}`));
            expect(rows).toEqual([]);
            expect(await store.version(streamId)).toBe(0);
          } finally {
            await store.transaction((tx) => tx.query(`DROP TABLE ${table}`));
          }
        });
      } else {
        it("refuses SQL in a transaction with UNSUPPORTED", async () => {
          const store = await newStore();
          const err = await rejection(store.transaction((tx) => tx.query("SELECT 1")));
          expect(err.code).toBe(ErrorCode.UNSUPPORTED);
        });
      }
    });

    describe("upcasters", () => {
      it("reads a v1 event stored before the v2 upcaster was added as v2, and chains v2 to v3", async () => {
        const before = await newStore();
        const streamId = newStreamId("upcast");
        const v1 = createEvent({
          type: PERSON_V1,
          source: SOURCE,
          subject: streamId,
          data: { name: "Ada Lovelace" },
          metadata: { tenant: "acme" },
        });
        await before.append(streamId, [v1]);

        const toV2: Upcaster<{ name: string }, { name: string; channel: string }> = {
          fromType: PERSON_V1,
          toType: "conformance.person.registered.v2",
          toVersion: "2.0",
          upcast: (data) => ({ ...data, channel: "web" }),
        };
        const v2Store = await newStore({ upcasters: [toV2] });
        const [asV2] = await v2Store.read(streamId);
        expect(asV2?.event).toEqual({
          ...v1,
          type: "conformance.person.registered.v2",
          version: "2.0",
          data: { name: "Ada Lovelace", channel: "web" },
        });
        expect(asV2?.streamVersion).toBe(1);

        const toV3: Upcaster<
          { name: string; channel: string },
          { first: string; last: string; channel: string }
        > = {
          fromType: "conformance.person.registered.v2",
          fromVersion: "2.0",
          toType: "conformance.person.registered.v3",
          toVersion: "3.0",
          upcast: ({ name, channel }) => {
            const [first = "", last = ""] = name.split(" ");
            return { first, last, channel };
          },
        };
        const v3Store = await newStore({ upcasters: [toV3, toV2] });
        const [asV3] = await v3Store.read(streamId);
        expect(asV3?.event.type).toBe("conformance.person.registered.v3");
        expect(asV3?.event.version).toBe("3.0");
        expect(asV3?.event.data).toEqual({ first: "Ada", last: "Lovelace", channel: "web" });
        expect(asV3?.event.id).toBe(v1.id);
        expect(asV3?.event.metadata).toEqual({ tenant: "acme" });

        const followed = await follow(v3Store, START, new Set([streamId]), 1);
        expect(followed.events[0]?.event.data).toEqual({ first: "Ada", last: "Lovelace", channel: "web" });

        // The stored event is untouched.
        const [raw] = await before.read(streamId);
        expect(raw?.event).toEqual(v1);
      });

      it("refuses upcasters that form a cycle", async () => {
        const cycle: Upcaster[] = [
          {
            fromType: TYPE_V1,
            toType: "conformance.person.registered.v2",
            toVersion: "2.0",
            upcast: (d) => d,
          },
          {
            fromType: "conformance.person.registered.v2",
            toType: TYPE_V1,
            toVersion: "1.0",
            upcast: (d) => d,
          },
        ];
        const err = await rejection(
          (async () => {
            const store = await newStore({ upcasters: cycle });
            await store.read(newStreamId("cycle"));
          })(),
        );
        expect(err.code).toBe(ErrorCode.INVALID_OPTIONS);
      });
    });

    if (snapshots) {
      describe("snapshots", () => {
        const newSnapshots = async (): Promise<SnapshotStore> => {
          if (!factory.createSnapshotStore) throw new Error("features.snapshots needs createSnapshotStore");
          const s = await factory.createSnapshotStore();
          open.push(s);
          return s;
        };

        it("saves and loads the latest snapshot of a stream", async () => {
          const snaps = await newSnapshots();
          const streamId = newStreamId("snap");
          expect(await snaps.load(streamId)).toBeUndefined();
          await snaps.save({ streamId, version: 3, state: { status: "pending", items: [1, 2] } });
          const loaded = await snaps.load<{ status: string; items: number[] }>(streamId);
          expect(loaded).toMatchObject({
            streamId,
            version: 3,
            state: { status: "pending", items: [1, 2] },
            schemaVersion: 1,
          });
          expect(loaded?.savedAt).toBeInstanceOf(Date);
          await snaps.save({
            streamId,
            version: 5,
            state: { status: "confirmed", items: [] },
            schemaVersion: 2,
          });
          expect(await snaps.load(streamId)).toMatchObject({
            version: 5,
            state: { status: "confirmed", items: [] },
            schemaVersion: 2,
          });
        });

        it("ignores a snapshot older than the stored one", async () => {
          const snaps = await newSnapshots();
          const streamId = newStreamId("snap-old");
          await snaps.save({ streamId, version: 8, state: { v: 8 } });
          await snaps.save({ streamId, version: 4, state: { v: 4 } });
          expect(await snaps.load(streamId)).toMatchObject({ version: 8, state: { v: 8 } });
        });

        it("refuses an invalid snapshot with INVALID_OPTIONS", async () => {
          const snaps = await newSnapshots();
          const err = await rejection(
            snaps.save({ streamId: newStreamId("snap-bad"), version: -2, state: {} }),
          );
          expect(err.code).toBe(ErrorCode.INVALID_OPTIONS);
        });
      });
    }

    describe("notifications", () => {
      if (listen) {
        it("calls a listener after a commit that appended events, until it stops listening", async () => {
          const store = await newStore();
          expect(canListen(store)).toBe(true);
          if (!canListen(store)) return;
          let calls = 0;
          const unlisten = await store.listen(() => {
            calls++;
          });
          const streamId = newStreamId("notify");
          await store.append(streamId, [event(streamId, 1)]);
          await waitFor(() => calls > 0, { message: "a notification after the append" });
          const afterFirst = calls;
          await store.transaction(async (tx) => {
            await tx.append(streamId, [event(streamId, 2)]);
          });
          await waitFor(() => calls > afterFirst, { message: "a notification after the transaction" });
          await unlisten();
        });
      } else {
        it("does not claim to notify", async () => {
          const store = await newStore();
          expect(canListen(store)).toBe(false);
        });
      }
    });
  });
}
