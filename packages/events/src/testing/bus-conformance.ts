/**
 * The consumer-chain conformance suite: what the event bus promises (retries, dead letters, dedupe,
 * ordering, correlation, request-reply) on top of any `Transport`. Written once; each transport's test
 * file wires a factory, exactly as for `runTransportConformance`.
 */
import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { type BusObserver, createEventBus, type EventBusOptions } from "../bus/index.js";
import { ADVISORY_STREAM, sweeperDurableFor, toDeadLetter } from "../dlq/index.js";
import {
  createEvent,
  createEventRegistry,
  defineEvent,
  dlqStreamNameFor,
  encodeEvent,
} from "../envelope/index.js";
import { isSlotwiseError } from "../errors/index.js";
import type { StoredMessage, Transport } from "../transport/index.js";
import type { TransportConformanceFactory } from "./transport-conformance.js";
import { uniqueId, waitFor } from "./wait.js";

const WAIT_MS = 15_000;

const Created = defineEvent({
  type: "booking.appointment.created.v1",
  schema: z.object({ bookingId: z.string(), seq: z.number().int() }),
});
const Confirmed = defineEvent({
  type: "booking.appointment.confirmed.v1",
  schema: z.object({ bookingId: z.string() }),
});
const Requested = defineEvent({
  type: "booking.availability.requested.v1",
  schema: z.object({ serviceId: z.string() }),
});
const Answered = defineEvent({
  type: "booking.availability.answered.v1",
  schema: z.object({ serviceId: z.string(), slots: z.number().int() }),
});

const registry = () => createEventRegistry().register(Created, Confirmed, Requested, Answered);

interface Recorder extends BusObserver {
  retries: number;
  deadLetters: number;
  duplicates: number;
}

function recorder(): Recorder {
  const r: Recorder = {
    retries: 0,
    deadLetters: 0,
    duplicates: 0,
    retried: () => {
      r.retries++;
    },
    deadLettered: () => {
      r.deadLetters++;
    },
    skipped: (i) => {
      if (i.reason === "duplicate") r.duplicates++;
    },
  };
  return r;
}

async function deadLetters(t: Transport, env: string): Promise<ReturnType<typeof toDeadLetter>[]> {
  const info = await t.streamInfo(dlqStreamNameFor(env));
  if (!info || info.messages === 0) return [];
  const out = [];
  for (let seq = info.firstSeq; seq <= info.lastSeq; seq++) {
    const m: StoredMessage | undefined = await t.getMessage(info.name, seq);
    if (m) out.push(toDeadLetter(m));
  }
  return out;
}

export function runBusConformance(name: string, factory: TransportConformanceFactory): void {
  describe(`event bus conformance: ${name}`, () => {
    async function setup(overrides: Partial<EventBusOptions> = {}) {
      const env = `b${uniqueId(8)}`;
      const transport = await factory.connect();
      const bus = createEventBus({
        transport,
        service: "booking-service",
        env,
        registry: registry(),
        retry: { attempts: 3, baseMs: 20, capMs: 100 },
        ...overrides,
      });
      onTestFinished(async () => {
        await bus.close().catch(() => {});
        const admin = await factory.connect();
        for (const s of ["BOOKING", "DLQ"])
          await admin.deleteStream(`${env.toUpperCase()}_${s}`).catch(() => {});
        // The advisory stream is shared by every env; only this env's sweeper durable is ours.
        await admin
          .deleteConsumer(ADVISORY_STREAM, sweeperDurableFor(`${env.toUpperCase()}_BOOKING`))
          .catch(() => {});
        await admin.close();
      });
      return { env, transport, bus };
    }

    it("delivers published events to a durable handler with their parsed data", async () => {
      const { bus } = await setup();
      const seen: string[] = [];
      bus.handle({
        name: "projector",
        types: [Created],
        handler: (e) => void seen.push((e.data as { bookingId: string }).bookingId),
      });
      await bus.start();
      for (let i = 0; i < 5; i++) {
        await bus.publish(
          Created.create({
            source: "booking-service",
            subject: `bk-${i}`,
            data: { bookingId: `bk-${i}`, seq: i },
          }),
        );
      }
      await waitFor(() => seen.length === 5, { timeoutMs: WAIT_MS });
      expect(seen.sort()).toEqual(["bk-0", "bk-1", "bk-2", "bk-3", "bk-4"]);
    });

    it("gives events published inside a handler the handled event's correlation id and its id as causation", async () => {
      const { bus } = await setup();
      const confirmed: { correlationid: string; causationid?: string }[] = [];
      bus.handle({
        name: "confirmer",
        types: [Created],
        handler: async (e) => {
          await bus.publish(
            Confirmed.create({
              source: "booking-service",
              subject: e.subject,
              data: { bookingId: e.subject },
            }),
          );
        },
      });
      bus.handle({ name: "audit", types: [Confirmed], handler: (e) => void confirmed.push(e) });
      await bus.start();
      const cause = Created.create({
        source: "web",
        subject: "bk-1",
        data: { bookingId: "bk-1", seq: 1 },
        correlationid: "flow-7",
      });
      await bus.publish(cause);
      await waitFor(() => confirmed.length === 1, { timeoutMs: WAIT_MS });
      expect(confirmed[0]).toMatchObject({ correlationid: "flow-7", causationid: cause.id });
    });

    it("handles once a handler that fails twice then succeeds: two retries, no dead letter", async () => {
      const obs = recorder();
      const { bus, transport, env } = await setup({ observer: obs });
      let calls = 0;
      let handled = 0;
      bus.handle({
        name: "flaky",
        types: [Created],
        handler: () => {
          calls++;
          if (calls <= 2) throw new Error(`transient failure ${calls}`);
          handled++;
        },
      });
      await bus.start();
      await bus.publish(
        Created.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", seq: 1 } }),
      );
      await waitFor(() => handled === 1, { timeoutMs: WAIT_MS });
      await bus.drain();
      expect(obs.retries).toBe(2);
      expect(obs.deadLetters).toBe(0);
      expect(await deadLetters(transport, env)).toHaveLength(0);
    });

    it("dead-letters after the last attempt with MAX_DELIVERIES and the delivery count, then acks", async () => {
      const obs = recorder();
      const { bus, transport, env } = await setup({ observer: obs });
      let calls = 0;
      bus.handle({
        name: "broken",
        types: [Created],
        handler: () => {
          calls++;
          throw new Error("always broken");
        },
      });
      await bus.start();
      const event = Created.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", seq: 1 } });
      await bus.publish(event);
      const [dl] = await waitFor(
        async () => {
          const d = await deadLetters(transport, env);
          return d.length === 1 ? d : undefined;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(calls).toBe(3);
      expect(dl).toMatchObject({ code: "MAX_DELIVERIES", deliveries: 3, consumer: "booking-service-broken" });
      expect(dl?.message).toContain("always broken");
      expect(new TextDecoder().decode(dl?.data)).toBe(new TextDecoder().decode(encodeEvent(event)));
      expect(obs.retries).toBe(2);
    });

    it("dead-letters data failing its schema at once, never retried, and handles the valid events around it", async () => {
      const obs = recorder();
      const { bus, transport, env } = await setup({ observer: obs });
      const handled: number[] = [];
      bus.handle({
        name: "strict",
        types: [Created],
        handler: (e) => void handled.push((e.data as { seq: number }).seq),
      });
      await bus.start();
      await bus.publish(
        Created.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", seq: 1 } }),
      );
      const bad = createEvent({
        type: Created.type,
        source: "s",
        subject: "bk-2",
        data: { bookingId: 42, seq: 2 },
      });
      await transport.publish({ subject: `${env}.${Created.type}`, data: encodeEvent(bad), msgId: bad.id });
      await bus.publish(
        Created.create({ source: "s", subject: "bk-3", data: { bookingId: "bk-3", seq: 3 } }),
      );
      await waitFor(() => handled.length === 2 && obs.deadLetters === 1, { timeoutMs: WAIT_MS });
      const [dl] = await deadLetters(transport, env);
      expect(dl).toMatchObject({ code: "SCHEMA_VIOLATION", deliveries: 1 });
      expect(obs.retries).toBe(0);
      expect(handled.sort()).toEqual([1, 3]);
    });

    it("dead-letters an event whose handler never settles, from the max-deliveries advisory, and handles the events after it", async () => {
      const obs = recorder();
      const { bus, transport, env } = await setup({ observer: obs });
      const handled: number[] = [];
      let stalls = 0;
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      // Runs before the setup's close (hooks run last-registered first), which would wait for the stall.
      onTestFinished(() => release());
      bus.handle({
        name: "stuck",
        types: [Created],
        ackWaitMs: 300,
        // No handler timeout: what is tested is a stall the consumer itself cannot see (a hung process).
        timeoutMs: 60_000,
        handler: async (e) => {
          const { seq } = e.data as { seq: number };
          if (seq === 2) {
            // Neither succeeds nor fails: the handler never reaches its last attempt.
            stalls++;
            await released;
            return;
          }
          handled.push(seq);
        },
      });
      await bus.start();
      for (let seq = 1; seq <= 5; seq++) {
        await bus.publish(
          Created.create({ source: "s", subject: `bk-${seq}`, data: { bookingId: `bk-${seq}`, seq } }),
        );
      }
      const [dl] = await waitFor(
        async () => {
          const d = await deadLetters(transport, env);
          return d.length === 1 && handled.length === 4 ? d : undefined;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(dl).toMatchObject({
        code: "MAX_DELIVERIES",
        deliveries: 3,
        consumer: "booking-service-stuck",
        originalSubject: `${env}.${Created.type}`,
      });
      expect(dl?.message).toContain("died or stalled");
      expect((JSON.parse(new TextDecoder().decode(dl?.data)) as { data: { seq: number } }).data.seq).toBe(2);
      expect(handled.sort()).toEqual([1, 3, 4, 5]);
      expect(stalls).toBeGreaterThanOrEqual(1);
      await waitFor(() => obs.deadLetters === 1, { timeoutMs: WAIT_MS });
      release();
    });

    it("skips an event id the consumer already handled", async () => {
      const obs = recorder();
      const { bus, transport, env } = await setup({ observer: obs });
      let handled = 0;
      bus.handle({ name: "once", types: [Created], handler: () => void handled++ });
      await bus.start();
      const event = Created.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", seq: 1 } });
      await bus.publish(event);
      // The same event again under another msg id: what a re-publish after the duplicate window looks like.
      await transport.publish({
        subject: `${env}.${Created.type}`,
        data: encodeEvent(event),
        msgId: `${event.id}-again`,
      });
      await waitFor(() => obs.duplicates === 1, { timeoutMs: WAIT_MS });
      expect(handled).toBe(1);
    });

    it("handles events of one subject in order while subjects run concurrently", async () => {
      const { bus } = await setup();
      const bySubject = new Map<string, number[]>();
      let inFlight = 0;
      let maxInFlight = 0;
      bus.handle({
        name: "ordered",
        types: [Created],
        maxInFlight: 32,
        handler: async (e) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          const list = bySubject.get(e.subject) ?? [];
          list.push((e.data as { seq: number }).seq);
          bySubject.set(e.subject, list);
          inFlight--;
        },
      });
      await bus.start();
      for (let i = 0; i < 200; i++) {
        await bus.publishAsync(
          Created.create({ source: "s", subject: `bk-${i % 4}`, data: { bookingId: `bk-${i % 4}`, seq: i } }),
        );
      }
      await bus.flush();
      await waitFor(() => [...bySubject.values()].reduce((n, l) => n + l.length, 0) === 200, {
        timeoutMs: WAIT_MS,
      });
      for (const list of bySubject.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
      expect(maxInFlight).toBeGreaterThan(1);
      expect(maxInFlight).toBeLessThanOrEqual(4);
    });

    it("fails a hung handler at its timeout, retries it, and handles the events of its subject behind it", async () => {
      const obs = recorder();
      const { bus } = await setup({ observer: obs });
      const handled: number[] = [];
      let hung = false;
      bus.handle({
        name: "hangs-once",
        types: [Created],
        timeoutMs: 200,
        handler: async (e) => {
          const seq = (e.data as { seq: number }).seq;
          if (seq === 1 && !hung) {
            hung = true;
            await new Promise(() => {}); // never settles
          }
          handled.push(seq);
        },
      });
      await bus.start();
      for (const seq of [1, 2, 3]) {
        await bus.publish(Created.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", seq } }));
      }
      await waitFor(() => handled.length === 3, { timeoutMs: WAIT_MS });
      expect(handled).toContain(1);
      expect(handled.sort()).toEqual([1, 2, 3]);
      expect(obs.retries).toBeGreaterThanOrEqual(1);
    });

    it("refuses a second handler with the same name: it names the durable", async () => {
      const { bus } = await setup();
      bus.handle({ name: "twice", types: [Created], handler: () => {} });
      expect(() => bus.handle({ name: "twice", types: [Confirmed], handler: () => {} })).toThrow(
        expect.objectContaining({ code: "DUPLICATE_NAME" }),
      );
    });

    it("answers a request with a CloudEvent, and a failing responder with a typed error", async () => {
      const { bus } = await setup();
      const sub = bus.reply(Requested, (e) => {
        const serviceId = (e.data as { serviceId: string }).serviceId;
        if (serviceId === "none") throw new Error("no such service");
        return Answered.create({
          source: "booking-service",
          subject: serviceId,
          data: { serviceId, slots: 3 },
        });
      });
      onTestFinished(() => sub.stop());
      await new Promise((r) => setTimeout(r, 50));
      const ok = await bus.request(
        Requested.create({
          source: "web",
          subject: "svc-1",
          data: { serviceId: "svc-1" },
          correlationid: "c-1",
        }),
      );
      expect(ok).toMatchObject({ type: Answered.type, data: { slots: 3 }, correlationid: "c-1" });
      const err = await bus
        .request(Requested.create({ source: "web", subject: "none", data: { serviceId: "none" } }))
        .catch((e: unknown) => e);
      expect(isSlotwiseError(err, "HANDLER_FAILED")).toBe(true);
      expect((err as Error).message).toContain("no such service");
    });

    it("gives each message of a queue subscription to exactly one member", async () => {
      const { bus } = await setup();
      const counts = [0, 0, 0];
      const subs = counts.map((_, i) => bus.subscribeQueue(Created, "workers", () => void counts[i]!++));
      onTestFinished(() => Promise.all(subs.map((s) => s.stop())).then(() => {}));
      await new Promise((r) => setTimeout(r, 50));
      const transport = await factory.connect();
      onTestFinished(() => transport.close());
      for (let i = 0; i < 30; i++) {
        const e = Created.create({
          source: "web",
          subject: `bk-${i}`,
          data: { bookingId: `bk-${i}`, seq: i },
        });
        transport.publishCore({ subject: `${bus.env}.${e.type}`, data: encodeEvent(e) });
      }
      await transport.flush();
      await waitFor(() => counts.reduce((a, b) => a + b, 0) === 30, { timeoutMs: WAIT_MS });
      await new Promise((r) => setTimeout(r, 100));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
      expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
    });

    it("drain waits for in-flight handlers", async () => {
      const { bus } = await setup();
      let finished = 0;
      let started = 0;
      bus.handle({
        name: "slow",
        types: [Created],
        handler: async () => {
          started++;
          await new Promise((r) => setTimeout(r, 200));
          finished++;
        },
      });
      await bus.start();
      await bus.publish(
        Created.create({ source: "s", subject: "bk-1", data: { bookingId: "bk-1", seq: 1 } }),
      );
      await waitFor(() => started === 1, { timeoutMs: WAIT_MS });
      await bus.drain();
      expect(finished).toBe(1);
    });
  });
}
