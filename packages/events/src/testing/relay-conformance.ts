/**
 * The relay conformance suite: the outbox relay's promises, specified once and run on each pairing of
 * store and transport (in-process store + in-process transport, PGlite, PostgreSQL + NATS).
 *
 * ```ts
 * runRelayConformance("memory", { setup: async () => ({ store, transport, checkpoints, lock, cleanup }) });
 * ```
 *
 * The relay publishes everything in its log, so each test asks for a fresh, empty log (`setup()`), and uses
 * its own environment prefix and stream.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type CloudEvent, createEvent, decodeEvent } from "../envelope/index.js";
import { ErrorCode } from "../errors/index.js";
import type { CheckpointStore } from "../relay/checkpoint-store.js";
import type { LeaderLock } from "../relay/leader-lock.js";
import { createRelay, type Relay, type RelayOptions } from "../relay/relay.js";
import type { EventStore } from "../store/event-store.js";
import { CONTENT_TYPE_HEADER, MSG_ID_HEADER, type Transport } from "../transport/index.js";
import { uniqueId, waitFor } from "./wait.js";

/** One test's world: an empty log and what the relay needs around it. */
export interface RelayFixture {
  /** A store over a fresh, empty log. */
  store: EventStore;
  transport: Transport;
  checkpoints: CheckpointStore;
  /** A new lock; locks of one fixture compete for the same names. */
  lock(): LeaderLock | Promise<LeaderLock>;
  /** Releases everything the fixture created (after the test stopped its relays). */
  cleanup(): Promise<void>;
}

export interface RelayConformanceFactory {
  setup(): Promise<RelayFixture>;
}

export interface RelayConformanceFeatures {
  /** The store wakes the relay after commits (`canListen`). @default false */
  listen?: boolean;
}

const TYPE = "relayconf.item.added.v1";
const DOMAIN = "relayconf";
const SOURCE = "relay-conformance";

function item(subject: string, n: number): CloudEvent {
  return createEvent({ type: TYPE, source: SOURCE, subject, data: { n } });
}

export function runRelayConformance(
  name: string,
  factory: RelayConformanceFactory,
  features: RelayConformanceFeatures = {},
): void {
  describe(`relay conformance: ${name}`, () => {
    let cleanups: (() => Promise<void>)[] = [];

    afterEach(async () => {
      const list = cleanups.reverse();
      cleanups = [];
      for (const c of list) await c();
    });

    /** A fresh log, an env and its stream; everything stops after the test. */
    async function world() {
      const f = await factory.setup();
      const env = `rc${uniqueId(8)}`;
      const stream = `${env.toUpperCase()}_${DOMAIN.toUpperCase()}`;
      cleanups.push(async () => {
        await f.transport.deleteStream(stream).catch(() => false);
        await f.cleanup();
      });
      await f.transport.ensureStream({ name: stream, subjects: [`${env}.${DOMAIN}.>`], storage: "memory" });
      const relays: Relay[] = [];
      cleanups.push(async () => {
        for (const r of relays) await r.stop();
      });
      const relay = (options: Partial<RelayOptions> = {}): Relay => {
        const r = createRelay({
          store: f.store,
          transport: f.transport,
          env,
          checkpoints: f.checkpoints,
          pollIntervalMs: 50,
          retryDelayMs: 20,
          maxRetryDelayMs: 100,
          standbyRetryMs: 30,
          ...options,
        });
        relays.push(r);
        return r;
      };
      const append = async (count: number, perAppend = 1, label = "s"): Promise<CloudEvent[]> => {
        const all: CloudEvent[] = [];
        const streamId = `${label}-${uniqueId(8)}`;
        for (let i = 0; i < count; i += perAppend) {
          const events = Array.from({ length: Math.min(perAppend, count - i) }, (_, k) =>
            item(streamId, i + k),
          );
          await f.store.append(streamId, events);
          all.push(...events);
        }
        return all;
      };
      /** Every message of the stream, decoded, in stream order. */
      const published = async () => {
        const info = await f.transport.streamInfo(stream);
        const out: {
          id: string;
          subject: string;
          msgId: string | undefined;
          contentType: string | undefined;
        }[] = [];
        if (!info || info.messages === 0) return out;
        for (let seq = info.firstSeq; seq <= info.lastSeq; seq++) {
          const m = await f.transport.getMessage(stream, seq);
          if (!m) continue;
          out.push({
            id: decodeEvent(m.data).id,
            subject: m.subject,
            msgId: m.headers[MSG_ID_HEADER],
            contentType: m.headers[CONTENT_TYPE_HEADER],
          });
        }
        return out;
      };
      const messageCount = async () => (await f.transport.streamInfo(stream))?.messages ?? 0;
      return { f, env, stream, relay, append, published, messageCount };
    }

    it("publishes every event in commit order, once, to {env}.{type} with the event id as msg id", async () => {
      const w = await world();
      const before = await w.append(25, 5, "a");
      const r = w.relay({ batchSize: 7 });
      await r.start();
      const after = await w.append(10, 1, "b");
      const expected = [...before, ...after].map((e) => e.id);
      await waitFor(async () => (await w.messageCount()) >= expected.length, {
        message: "all events in the stream",
      });
      await waitFor(() => r.stats().batches > 0 && r.stats().published === expected.length);
      const msgs = await w.published();
      expect(msgs.map((m) => m.id)).toEqual(expected);
      for (const m of msgs) {
        expect(m.subject).toBe(`${w.env}.${TYPE}`);
        expect(m.msgId).toBe(m.id);
        expect(m.contentType).toBe("application/cloudevents+json");
      }
      const stats = r.stats();
      expect(stats.state).toBe("active");
      expect(stats.duplicates).toBe(0);
      expect(stats.lag.count).toBe(expected.length);
      expect(stats.lag.p99Ms).toBeGreaterThanOrEqual(stats.lag.p50Ms);
      expect(stats.lag.p50Ms).toBeGreaterThanOrEqual(0);
    });

    it("saves its checkpoint only after the batch is acknowledged, and resumes from it", async () => {
      const w = await world();
      const first = await w.append(12, 4);
      const seen: number[] = [];
      const r1 = w.relay({
        batchSize: 5,
        onBatchPublished: async (batch) => {
          // Every event of the batch is in the stream already, and the checkpoint is not saved yet.
          expect(await w.messageCount()).toBeGreaterThanOrEqual(seen.length + batch.events.length);
          const saved = await w.f.checkpoints.load("relay");
          if (seen.length === 0) expect(saved).toBeUndefined();
          else expect(saved).not.toEqual(batch.checkpoint);
          seen.push(batch.events.length);
        },
      });
      await r1.start();
      await waitFor(() => r1.stats().published === first.length);
      await r1.stop();
      expect(r1.stats().state).toBe("stopped");
      const saved = await w.f.checkpoints.load("relay");
      expect(saved).toEqual(r1.stats().checkpoint);
      expect(seen.reduce((a, b) => a + b, 0)).toBe(first.length);

      const second = await w.append(6, 2);
      const r2 = w.relay();
      await r2.start();
      await waitFor(() => r2.stats().published === second.length);
      expect(r2.stats().duplicates).toBe(0);
      expect((await w.published()).map((m) => m.id)).toEqual([...first, ...second].map((e) => e.id));
    });

    it("a relay that dies after publishing and before its checkpoint loses nothing and duplicates nothing", async () => {
      const w = await world();
      const events = await w.append(30, 3);
      const crashing = w.relay({
        batchSize: 10,
        onBatchPublished: () => {
          throw new Error("crash before the checkpoint");
        },
      });
      await crashing.start();
      await waitFor(() => crashing.stats().errors > 0);
      await crashing.stop();
      expect(await w.f.checkpoints.load("relay")).toBeUndefined();

      const restarted = w.relay({ batchSize: 10 });
      await restarted.start();
      await waitFor(() => restarted.stats().published === events.length);
      expect(restarted.stats().duplicates).toBeGreaterThan(0);
      expect((await w.published()).map((m) => m.id)).toEqual(events.map((e) => e.id));
    });

    it("keeps its checkpoint and retries when a publish fails, then catches up", async () => {
      const w = await world();
      const events = await w.append(8, 2);
      await w.f.transport.deleteStream(w.stream);
      const errors: unknown[] = [];
      const r = w.relay({ onError: (e) => errors.push(e) });
      await r.start();
      // Each failure takes the publisher's grace for a missing stream (it may be a restarting server).
      await waitFor(() => r.stats().errors >= 2, { timeoutMs: 25_000 });
      expect((errors[0] as { code?: string }).code).toBe(ErrorCode.PUBLISH_FAILED);
      expect(r.stats().batches).toBe(0);
      expect(await w.f.checkpoints.load("relay")).toBeUndefined();
      await w.f.transport.ensureStream({
        name: w.stream,
        subjects: [`${w.env}.${DOMAIN}.>`],
        storage: "memory",
      });
      await waitFor(async () => r.stats().batches > 0 && (await w.messageCount()) === events.length);
      expect((await w.published()).map((m) => m.id)).toEqual(events.map((e) => e.id));
    });

    it("polls when no wake-up comes", async () => {
      const w = await world();
      const r = w.relay({ wake: false, pollIntervalMs: 20 });
      await r.start();
      const events = await w.append(5);
      await waitFor(async () => (await w.messageCount()) === events.length);
    });

    it("wakes on its wake source without waiting for the poll", async () => {
      const w = await world();
      let wakeUp: () => void = () => {};
      let unsubscribed = false;
      const r = w.relay({
        pollIntervalMs: 600_000,
        wake: (onWake) => {
          wakeUp = onWake;
          return () => {
            unsubscribed = true;
          };
        },
      });
      await r.start();
      // After its first (empty) read the relay sleeps for ten minutes: only a wake-up brings it back.
      await waitFor(() => r.stats().reads > 0);
      const events = await w.append(4);
      wakeUp();
      await waitFor(async () => (await w.messageCount()) === events.length, { timeoutMs: 5_000 });
      await r.stop();
      expect(unsubscribed).toBe(true);
    });

    if (features.listen) {
      it("wakes on the store's notifications by default", async () => {
        const w = await world();
        const r = w.relay({ pollIntervalMs: 600_000 });
        await r.start();
        // After its first (empty) read the relay sleeps for ten minutes: only a notification brings it back.
        await waitFor(() => r.stats().reads > 0);
        const events = await w.append(3);
        await waitFor(async () => (await w.messageCount()) === events.length, { timeoutMs: 5_000 });
      });
    }

    it("runs one active instance at a time and fails over when it stops", async () => {
      const w = await world();
      const a = w.relay({ lock: await w.f.lock() });
      const b = w.relay({ lock: await w.f.lock() });
      await a.start();
      await waitFor(() => a.stats().state === "active");
      await b.start();
      const first = await w.append(10, 2);
      await waitFor(() => a.stats().published === first.length);
      // b stood by the whole time (it retried the lock every 30 ms).
      expect(b.stats().state).toBe("standby");
      expect(b.stats().published).toBe(0);
      expect(b.stats().activations).toBe(0);

      await a.stop();
      await waitFor(() => b.stats().state === "active");
      const second = await w.append(6, 3);
      await waitFor(() => b.stats().published === second.length);
      expect(b.stats().duplicates).toBe(0);
      expect((await w.published()).map((m) => m.id)).toEqual([...first, ...second].map((e) => e.id));
    });

    it("stop() drains the batch in flight, releases the lock and is idempotent", async () => {
      const w = await world();
      await w.append(40, 10);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const lock = await w.f.lock();
      const r = w.relay({ lock, batchSize: 40, onBatchPublished: () => gate });
      await r.start();
      await waitFor(() => r.stats().published === 40);
      const stopping = r.stop();
      expect(r.stop()).toBe(stopping);
      release();
      await stopping;
      expect(await w.f.checkpoints.load("relay")).toEqual(r.stats().checkpoint);
      expect(r.stats().batches).toBe(1);
      expect(lock.held).toBe(false);
      const other = await w.f.lock();
      expect(await other.acquire("relay")).toBe(true);
      await other.release();
      await expect(r.start()).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    });

    it("refuses contradicting options", async () => {
      const w = await world();
      expect(() => w.relay({ batchSize: 0 })).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }),
      );
      expect(() => w.relay({ publishTimeoutMs: 5_000, publishDeadlineMs: 1_000 })).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }),
      );
    });
  });
}
