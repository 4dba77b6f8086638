/**
 * The transport conformance suite: the behaviour every `Transport` must show, written once and run on each
 * backend (in-process and NATS JetStream). A backend's test file only wires a factory:
 *
 * ```ts
 * runTransportConformance("memory", { connect: async () => broker.connect() });
 * ```
 *
 * Every test derives its own env prefix, stream and durable names from a random id, so the suite runs in
 * parallel with other files on one shared server, and deletes its streams at the end. Waits poll with
 * generous timeouts; no assertion depends on a fixed sleep.
 */
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { isSlotwiseError } from "../errors/errors.js";
import type {
  ConsumeOptions,
  ConsumerConfig,
  MessageHandler,
  ReceivedMessage,
  StreamConfig,
  Subscription,
  Transport,
} from "../transport/transport.js";
import { sleep, uniqueId, waitFor } from "./wait.js";

export interface TransportConformanceFactory {
  /** A new, independent connection to the same server; called several times in one test. */
  connect(): Promise<Transport>;
  /** Called once after the whole suite. */
  cleanup?(): Promise<void>;
}

/** What a backend promises beyond the core contract; the suite checks each promised feature. */
export interface TransportConformanceFeatures {
  /** A request nobody subscribes to fails at once with NO_RESPONDERS (instead of TIMEOUT). @default true */
  noResponders?: boolean;
  /**
   * A message that exceeds `maxDeliver` produces JetStream's advisory on the core subject
   * `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<durable>`. @default true
   */
  maxDeliveriesAdvisory?: boolean;
}

/** Generous, because the shared server is busy while other suites run in parallel. */
const WAIT_MS = 15_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string): Uint8Array => encoder.encode(s);
const text = (b: Uint8Array): string => decoder.decode(b);

interface TestStream {
  name: string;
  /** `t<id>.<domain>`; every subject of the stream starts with it. */
  prefix: string;
  /** `t<id>.<domain>.<rest>` */
  subject(rest: string): string;
}

interface TestContext {
  /** Random, lower case; unique to this test. */
  readonly id: string;
  /** `t<id>`: the env prefix of every subject in this test. */
  readonly env: string;
  connect(): Promise<Transport>;
  /** Creates `T<ID>_<DOMAIN>` capturing `t<id>.<domain>.>`; deleted when the test ends. */
  stream(t: Transport, domain: string, extra?: Partial<StreamConfig>): Promise<TestStream>;
  /** `consume` whose subscription is stopped when the test ends. */
  consume(
    t: Transport,
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options?: ConsumeOptions,
  ): Promise<Subscription>;
  /** Waits until the durable has nothing pending and nothing unacknowledged. */
  drained(t: Transport, stream: string, durable: string): Promise<void>;
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

function openContext(factory: TransportConformanceFactory): TestContext {
  const id = uniqueId(10);
  const env = `t${id}`;
  const connections: Transport[] = [];
  const streams: string[] = [];
  const subscriptions: Subscription[] = [];

  onTestFinished(async () => {
    // A subscription whose handler never settles (a "dead" consumer) must not hang the cleanup.
    await Promise.all(subscriptions.map((s) => withTimeout(s.stop(), 2_000)));
    const admin = await factory.connect();
    try {
      for (const name of streams) await admin.deleteStream(name).catch(() => false);
    } finally {
      await admin.close();
    }
    await Promise.all(connections.map((c) => withTimeout(c.close(), 2_000)));
  });

  return {
    id,
    env,
    async connect() {
      const t = await factory.connect();
      connections.push(t);
      return t;
    },
    async stream(t, domain, extra = {}) {
      const name = `T${id.toUpperCase()}_${domain.toUpperCase()}`;
      const prefix = `${env}.${domain}`;
      streams.push(name);
      await t.ensureStream({ name, subjects: [`${prefix}.>`], storage: "memory", ...extra });
      return { name, prefix, subject: (rest) => `${prefix}.${rest}` };
    },
    async consume(t, consumer, handler, options) {
      const sub = await t.consume(consumer, handler, options);
      subscriptions.push(sub);
      return sub;
    },
    async drained(t, stream, durable) {
      await waitFor(
        async () => {
          const info = await t.consumerInfo(stream, durable);
          return info !== undefined && info.pending === 0 && info.ackPending === 0;
        },
        { timeoutMs: WAIT_MS, message: `durable ${durable} drained` },
      );
    },
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a SlotwiseError ${code}`).toBeDefined();
  expect(isSlotwiseError(caught), `not a SlotwiseError: ${String(caught)}`).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

export function runTransportConformance(
  name: string,
  factory: TransportConformanceFactory,
  features: TransportConformanceFeatures = {},
): void {
  const noResponders = features.noResponders ?? true;
  const maxDeliveriesAdvisory = features.maxDeliveriesAdvisory ?? true;
  const open = () => openContext(factory);

  describe(`transport conformance: ${name}`, () => {
    afterAll(async () => {
      await factory.cleanup?.();
    });

    describe("streams", () => {
      it("creates, updates, describes and deletes a stream", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        const again = await t.ensureStream({
          name: s.name,
          subjects: [`${s.prefix}.>`],
          storage: "memory",
          duplicateWindowMs: 60_000,
        });
        expect(again.name).toBe(s.name);
        expect(again.subjects).toEqual([`${s.prefix}.>`]);
        expect(again.duplicateWindowMs).toBe(60_000);
        expect(again.messages).toBe(0);

        const ack = await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("x") });
        expect(ack).toEqual({ stream: s.name, seq: 1, duplicate: false });
        const info = await t.streamInfo(s.name);
        expect(info?.messages).toBe(1);
        expect(info?.firstSeq).toBe(1);
        expect(info?.lastSeq).toBe(1);

        expect(await t.streamInfo(`${s.name}_NONE`)).toBeUndefined();
        expect(await t.deleteStream(s.name)).toBe(true);
        expect(await t.deleteStream(s.name)).toBe(false);
        expect(await t.streamInfo(s.name)).toBeUndefined();
      });

      it("stores a duplicate publish of one msgId once", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        const subject = s.subject("appointment.created.v1");
        const first = await t.publish({ subject, data: bytes("a"), msgId: "evt-1" });
        const second = await t.publish({ subject, data: bytes("a"), msgId: "evt-1" });
        expect(first.duplicate).toBe(false);
        expect(second.duplicate).toBe(true);
        expect(second.seq).toBe(first.seq);
        expect((await t.streamInfo(s.name))?.messages).toBe(1);

        const other = await t.publish({ subject, data: bytes("b"), msgId: "evt-2" });
        expect(other.duplicate).toBe(false);
        expect((await t.streamInfo(s.name))?.messages).toBe(2);
      });

      it("gets and deletes a stored message by sequence", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        const subject = s.subject("appointment.created.v1");
        for (const i of range(1, 3)) {
          await t.publish({
            subject,
            data: bytes(`m${i}`),
            headers: { "x-test": `v${i}` },
            msgId: `id-${i}`,
          });
        }
        const m2 = await t.getMessage(s.name, 2);
        expect(m2?.subject).toBe(subject);
        expect(text(m2?.data ?? new Uint8Array())).toBe("m2");
        expect(m2?.headers["x-test"]).toBe("v2");
        expect(m2?.seq).toBe(2);
        expect(m2?.timestamp).toBeInstanceOf(Date);
        expect(await t.getMessage(s.name, 99)).toBeUndefined();

        expect(await t.deleteMessage(s.name, 2)).toBe(true);
        expect(await t.getMessage(s.name, 2)).toBeUndefined();
        expect(await t.deleteMessage(s.name, 2)).toBe(false);
        const info = await t.streamInfo(s.name);
        expect(info?.messages).toBe(2);
        expect(info?.firstSeq).toBe(1);
        expect(info?.lastSeq).toBe(3);
      });
    });

    describe("durable consumers", () => {
      it("fans out every event to each of two durables", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        const got = { a: new Set<number>(), b: new Set<number>() };
        for (const durable of ["svc-a", "svc-b"] as const) {
          await t.ensureConsumer({ stream: s.name, durable });
          const key = durable === "svc-a" ? "a" : "b";
          await ctx.consume(t, { stream: s.name, durable }, (m) => {
            got[key].add(m.streamSequence);
          });
        }
        for (const i of range(1, 10)) {
          await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes(String(i)) });
        }
        await waitFor(() => got.a.size === 10 && got.b.size === 10, { timeoutMs: WAIT_MS });
        expect([...got.a].sort((x, y) => x - y)).toEqual(range(1, 10));
        expect([...got.b].sort((x, y) => x - y)).toEqual(range(1, 10));
      });

      it("hands each event to exactly one of three competing instances on one durable", async () => {
        const ctx = open();
        const setup = await ctx.connect();
        const s = await ctx.stream(setup, "booking");
        await setup.ensureConsumer({ stream: s.name, durable: "booking-confirm" });
        const handled = new Map<number, number>();
        const perInstance = [0, 0, 0];
        for (const instance of [0, 1, 2]) {
          const t = await ctx.connect();
          await ctx.consume(
            t,
            { stream: s.name, durable: "booking-confirm" },
            async (m) => {
              handled.set(m.streamSequence, (handled.get(m.streamSequence) ?? 0) + 1);
              perInstance[instance] = (perInstance[instance] ?? 0) + 1;
              await sleep(5); // some work, so the instances overlap
            },
            { maxInFlight: 4 },
          );
        }
        for (const i of range(1, 60)) {
          await setup.publish({ subject: s.subject("appointment.created.v1"), data: bytes(String(i)) });
        }
        await waitFor(() => handled.size === 60, { timeoutMs: WAIT_MS });
        await ctx.drained(setup, s.name, "booking-confirm");
        expect([...handled.keys()].sort((x, y) => x - y)).toEqual(range(1, 60));
        expect([...handled.values()].every((n) => n === 1)).toBe(true);
        expect(perInstance.filter((n) => n > 0).length).toBeGreaterThan(1);
      });

      it("redelivers after a handler throws, with deliveryCount 2", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({ stream: s.name, durable: "flaky" });
        const counts: number[] = [];
        await ctx.consume(t, { stream: s.name, durable: "flaky" }, (m) => {
          counts.push(m.deliveryCount);
          if (m.deliveryCount === 1) throw new Error("boom");
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("x") });
        await waitFor(() => counts.length >= 2, { timeoutMs: WAIT_MS });
        await ctx.drained(t, s.name, "flaky");
        expect(counts).toEqual([1, 2]);
      });

      it("redelivers after ack wait when a consumer dies without acking", async () => {
        const ctx = open();
        const a = await ctx.connect();
        const b = await ctx.connect();
        const s = await ctx.stream(a, "booking");
        await a.ensureConsumer({ stream: s.name, durable: "worker", ackWaitMs: 1_000 });
        let held: ReceivedMessage | undefined;
        await ctx.consume(a, { stream: s.name, durable: "worker" }, (m) => {
          held = m;
          return new Promise<void>(() => undefined); // never settles: the process "hangs", then dies
        });
        const ack = await a.publish({ subject: s.subject("appointment.created.v1"), data: bytes("x") });
        await waitFor(() => held, { timeoutMs: WAIT_MS });
        await a.close();
        try {
          held?.ack(); // a late ack of a dead connection must not count
        } catch {
          // a backend may also refuse it
        }

        const got: ReceivedMessage[] = [];
        await ctx.consume(b, { stream: s.name, durable: "worker" }, (m) => {
          got.push(m);
        });
        await waitFor(() => got.length >= 1, { timeoutMs: WAIT_MS });
        expect(got[0]?.streamSequence).toBe(ack.seq);
        expect(got[0]?.deliveryCount).toBeGreaterThanOrEqual(2);
        await ctx.drained(b, s.name, "worker");
      });

      it("keeps order per subject with maxInFlight 1", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({ stream: s.name, durable: "ordered" });
        const actions = ["created", "confirmed", "cancelled", "completed"];
        const seen = new Map<string, number[]>();
        let total = 0;
        await ctx.consume(
          t,
          { stream: s.name, durable: "ordered" },
          (m) => {
            const list = seen.get(m.subject) ?? [];
            list.push(Number(text(m.data)));
            seen.set(m.subject, list);
            total++;
          },
          { maxInFlight: 1 },
        );
        for (const i of range(0, 199)) {
          const action = actions[i % actions.length];
          await t.publish({ subject: s.subject(`appointment.${action}.v1`), data: bytes(String(i)) });
        }
        await waitFor(() => total >= 200, { timeoutMs: WAIT_MS });
        expect(seen.size).toBe(4);
        for (const list of seen.values()) {
          expect(list).toHaveLength(50);
          expect(list).toEqual([...list].sort((x, y) => x - y));
        }
      });

      it("replays from the start, a time or a sequence for a durable created after the events", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        const subject = s.subject("appointment.created.v1");
        for (const i of range(1, 3)) await t.publish({ subject, data: bytes(`early-${i}`) });
        await sleep(50); // pacing only: the later events get later timestamps
        for (const i of range(4, 5)) await t.publish({ subject, data: bytes(`late-${i}`) });
        const fourth = await t.getMessage(s.name, 4);
        expect(fourth).toBeDefined();

        const collect = async (durable: string, config: Partial<ConsumerConfig>) => {
          const got: number[] = [];
          await t.ensureConsumer({ stream: s.name, durable, ...config });
          await ctx.consume(t, { stream: s.name, durable }, (m) => {
            got.push(m.streamSequence);
          });
          return got;
        };
        const all = await collect("replay-all", { deliverPolicy: "all" });
        const since = await collect("replay-time", {
          deliverPolicy: { startTime: fourth?.timestamp ?? new Date() },
        });
        const fromSeq = await collect("replay-seq", { deliverPolicy: { startSequence: 2 } });
        const onlyNew = await collect("replay-new", { deliverPolicy: "new" });

        await waitFor(() => all.length >= 5 && since.length >= 2 && fromSeq.length >= 4, {
          timeoutMs: WAIT_MS,
        });
        await t.publish({ subject, data: bytes("after") });
        for (const durable of ["replay-all", "replay-time", "replay-seq", "replay-new"]) {
          await ctx.drained(t, s.name, durable);
        }
        await waitFor(() => onlyNew.length >= 1 && all.length >= 6, { timeoutMs: WAIT_MS });
        expect(all).toEqual(range(1, 6));
        expect(since).toEqual([4, 5, 6]);
        expect(fromSeq).toEqual([2, 3, 4, 5, 6]);
        expect(onlyNew).toEqual([6]);
      });

      it("only delivers subjects matching the durable's filter", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({
          stream: s.name,
          durable: "filtered",
          filterSubjects: [s.subject("appointment.confirmed.*")],
        });
        const got: string[] = [];
        await ctx.consume(t, { stream: s.name, durable: "filtered" }, (m) => {
          got.push(text(m.data));
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("created") });
        await t.publish({ subject: s.subject("appointment.confirmed.v1"), data: bytes("confirmed") });
        await t.publish({ subject: s.subject("payment.completed.v1"), data: bytes("paid") });
        await t.publish({ subject: s.subject("appointment.confirmed.v2"), data: bytes("confirmed2") });
        await waitFor(() => got.length >= 2, { timeoutMs: WAIT_MS });
        await ctx.drained(t, s.name, "filtered");
        expect(got).toEqual(["confirmed", "confirmed2"]);
      });

      it("reports pending counts on messages and in consumer info", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        for (const i of range(1, 5)) {
          await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes(String(i)) });
        }
        const created = await t.ensureConsumer({ stream: s.name, durable: "counted" });
        expect(created.pending).toBe(5);
        expect(created.ackPending).toBe(0);
        const pendings = new Map<number, number>();
        await ctx.consume(
          t,
          { stream: s.name, durable: "counted" },
          (m) => {
            pendings.set(m.streamSequence, m.pending);
          },
          { maxInFlight: 1 },
        );
        await waitFor(() => pendings.size === 5, { timeoutMs: WAIT_MS });
        expect(pendings.get(1)).toBe(4);
        expect(pendings.get(5)).toBe(0);
        await ctx.drained(t, s.name, "counted");
        await waitFor(async () => (await t.consumerInfo(s.name, "counted"))?.ackFloor === 5, {
          timeoutMs: WAIT_MS,
        });
        expect(await t.consumerInfo(s.name, "missing")).toBeUndefined();
        expect(await t.deleteConsumer(s.name, "counted")).toBe(true);
        expect(await t.deleteConsumer(s.name, "counted")).toBe(false);
      });

      it("redelivers a nak(delay) message not before the delay", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({ stream: s.name, durable: "delayed" });
        const times: number[] = [];
        const delayMs = 1_000;
        await ctx.consume(t, { stream: s.name, durable: "delayed" }, (m) => {
          times.push(Date.now());
          if (m.deliveryCount === 1) m.nak(delayMs);
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("x") });
        await waitFor(() => times.length >= 2, { timeoutMs: WAIT_MS });
        const [first = 0, second = 0] = times;
        // A little slack for timer granularity; a plain nak would come back within milliseconds.
        expect(second - first).toBeGreaterThanOrEqual(delayMs - 50);
        await ctx.drained(t, s.name, "delayed");
        expect(times).toHaveLength(2);
      });

      it("never redelivers a term()'d message", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({ stream: s.name, durable: "terminal" });
        const calls: number[] = [];
        await ctx.consume(t, { stream: s.name, durable: "terminal" }, (m) => {
          calls.push(m.streamSequence);
          if (m.streamSequence === 1) m.term("poison");
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("poison") });
        await waitFor(() => calls.length >= 1, { timeoutMs: WAIT_MS });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("fine") });
        await waitFor(() => calls.includes(2), { timeoutMs: WAIT_MS });
        await ctx.drained(t, s.name, "terminal");
        expect(calls).toEqual([1, 2]);
      });

      it("working() holds off redelivery past the ack wait", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({ stream: s.name, durable: "slow", ackWaitMs: 1_000 });
        const counts: number[] = [];
        await ctx.consume(t, { stream: s.name, durable: "slow" }, async (m) => {
          counts.push(m.deliveryCount);
          if (m.deliveryCount > 1) return;
          for (let i = 0; i < 8; i++) {
            await sleep(250);
            m.working();
          }
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("x") });
        await waitFor(() => counts.length >= 1, { timeoutMs: WAIT_MS });
        await ctx.drained(t, s.name, "slow");
        expect(counts).toEqual([1]);
      });

      it(`stops redelivering after maxDeliver${maxDeliveriesAdvisory ? " and publishes the max-deliveries advisory" : ""}`, async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        const durable = "poisoned";
        await t.ensureConsumer({ stream: s.name, durable, maxDeliver: 3 });
        const advisories: Record<string, unknown>[] = [];
        if (maxDeliveriesAdvisory) {
          // Core subscriptions end with the test's connections.
          t.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${s.name}.${durable}`, (m) => {
            advisories.push(JSON.parse(text(m.data)) as Record<string, unknown>);
          });
          await t.flush();
        }
        const poisonCounts: number[] = [];
        const fine: number[] = [];
        await ctx.consume(t, { stream: s.name, durable }, (m) => {
          if (m.streamSequence === 1) {
            poisonCounts.push(m.deliveryCount);
            throw new Error("poison");
          }
          fine.push(m.streamSequence);
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("poison") });
        await waitFor(() => poisonCounts.length >= 3, { timeoutMs: WAIT_MS });
        if (maxDeliveriesAdvisory) {
          await waitFor(() => advisories.length >= 1, { timeoutMs: WAIT_MS });
          const advisory = advisories[0];
          expect(advisory?.type).toBe("io.nats.jetstream.advisory.v1.max_deliver");
          expect(advisory?.stream).toBe(s.name);
          expect(advisory?.consumer).toBe(durable);
          expect(advisory?.stream_seq).toBe(1);
          expect(advisory?.deliveries).toBe(3);
        }
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("fine") });
        await waitFor(() => fine.includes(2), { timeoutMs: WAIT_MS });
        expect(poisonCounts).toEqual([1, 2, 3]);
        expect(advisories.length).toBeLessThanOrEqual(1);
      });

      it("bounds unacknowledged messages by maxAckPending across instances", async () => {
        const ctx = open();
        const setup = await ctx.connect();
        const s = await ctx.stream(setup, "booking");
        await setup.ensureConsumer({ stream: s.name, durable: "bounded", maxAckPending: 3 });
        let inFlight = 0;
        let maxSeen = 0;
        const handled = new Set<number>();
        for (const _ of [0, 1]) {
          const t = await ctx.connect();
          await ctx.consume(
            t,
            { stream: s.name, durable: "bounded" },
            async (m) => {
              inFlight++;
              maxSeen = Math.max(maxSeen, inFlight);
              await sleep(20);
              handled.add(m.streamSequence);
              inFlight--;
            },
            { maxInFlight: 10 },
          );
        }
        for (const i of range(1, 20)) {
          await setup.publish({ subject: s.subject("appointment.created.v1"), data: bytes(String(i)) });
        }
        await waitFor(() => handled.size === 20, { timeoutMs: WAIT_MS });
        await ctx.drained(setup, s.name, "bounded");
        expect(maxSeen).toBeGreaterThanOrEqual(1);
        expect(maxSeen).toBeLessThanOrEqual(3);
      });

      it("stop() waits for in-flight handlers and acks their messages", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const s = await ctx.stream(t, "booking");
        await t.ensureConsumer({ stream: s.name, durable: "draining" });
        let release: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let entered = false;
        const sub = await ctx.consume(t, { stream: s.name, durable: "draining" }, async () => {
          entered = true;
          await gate;
        });
        await t.publish({ subject: s.subject("appointment.created.v1"), data: bytes("x") });
        await waitFor(() => entered, { timeoutMs: WAIT_MS });
        let stopped = false;
        const stopping = sub.stop().then(() => {
          stopped = true;
        });
        await sleep(50);
        expect(stopped).toBe(false);
        release();
        await stopping;
        await sub.closed;
        await ctx.drained(t, s.name, "draining");
      });
    });

    describe("core NATS", () => {
      it("fans out to every subscriber, once per queue group, honouring wildcards", async () => {
        const ctx = open();
        const c1 = await ctx.connect();
        const c2 = await ctx.connect();
        const c3 = await ctx.connect();
        const deep: string[] = [];
        const shallow: string[] = [];
        const queue = new Map<string, number>();
        const members = [0, 0, 0];
        const badHeaders: string[] = [];
        c1.subscribe(`${ctx.env}.core.>`, (m) => {
          deep.push(m.subject);
        });
        c2.subscribe(`${ctx.env}.core.*`, (m) => {
          shallow.push(m.subject);
        });
        [c1, c2, c3].forEach((c, i) => {
          c.subscribe(
            `${ctx.env}.core.*`,
            (m) => {
              const key = `${m.subject}#${text(m.data)}`;
              queue.set(key, (queue.get(key) ?? 0) + 1);
              members[i] = (members[i] ?? 0) + 1;
              // Checked after the waits: an assertion thrown inside a handler would go unseen.
              if (m.headers["x-n"] !== text(m.data)) badHeaders.push(m.subject);
            },
            { queue: "workers" },
          );
        });
        await Promise.all([c1.flush(), c2.flush(), c3.flush()]);

        for (const i of range(1, 30)) {
          c3.publishCore({
            subject: `${ctx.env}.core.ping`,
            data: bytes(String(i)),
            headers: { "x-n": String(i) },
          });
        }
        c3.publishCore({ subject: `${ctx.env}.core.deep.x`, data: bytes("d"), headers: { "x-n": "d" } });
        c3.publishCore({ subject: `${ctx.env}.core.end`, data: bytes("e"), headers: { "x-n": "e" } });
        await c3.flush();

        await waitFor(() => deep.length >= 32 && shallow.length >= 31 && queue.size >= 31, {
          timeoutMs: WAIT_MS,
        });
        expect(deep).toContain(`${ctx.env}.core.deep.x`);
        expect(shallow).not.toContain(`${ctx.env}.core.deep.x`);
        expect(shallow.at(-1)).toBe(`${ctx.env}.core.end`);
        expect(queue.size).toBe(31);
        expect([...queue.values()].every((n) => n === 1)).toBe(true);
        expect(members.reduce((x, y) => x + y, 0)).toBe(31);
        expect(badHeaders).toEqual([]);
      });

      it("answers a request and fails a silent one with TIMEOUT", async () => {
        const ctx = open();
        const responder = await ctx.connect();
        const requester = await ctx.connect();
        responder.subscribe(`${ctx.env}.svc.echo`, (m) => {
          m.respond(bytes(`echo:${text(m.data)}`), { "x-reply": "yes" });
        });
        responder.subscribe(`${ctx.env}.svc.silent`, () => undefined);
        await responder.flush();

        const reply = await requester.request({ subject: `${ctx.env}.svc.echo`, data: bytes("hi") });
        expect(text(reply.data)).toBe("echo:hi");
        expect(reply.headers["x-reply"]).toBe("yes");

        await expectCode(
          requester.request({ subject: `${ctx.env}.svc.silent`, data: bytes("hi") }, { timeoutMs: 300 }),
          "TIMEOUT",
        );
      });

      if (noResponders) {
        it("fails a request nobody listens to with NO_RESPONDERS", async () => {
          const ctx = open();
          const requester = await ctx.connect();
          await expectCode(
            requester.request({ subject: `${ctx.env}.svc.nobody`, data: bytes("hi") }, { timeoutMs: 5_000 }),
            "NO_RESPONDERS",
          );
        });
      }

      it("stops delivering to an unsubscribed subscription", async () => {
        const ctx = open();
        const t = await ctx.connect();
        const got: string[] = [];
        const sub = t.subscribe(`${ctx.env}.core.once`, (m) => {
          got.push(text(m.data));
        });
        const witness: string[] = [];
        t.subscribe(`${ctx.env}.core.once`, (m) => {
          witness.push(text(m.data));
        });
        await t.flush();
        t.publishCore({ subject: `${ctx.env}.core.once`, data: bytes("1") });
        await waitFor(() => got.length === 1 && witness.length === 1, { timeoutMs: WAIT_MS });
        await sub.stop();
        await sub.closed;
        t.publishCore({ subject: `${ctx.env}.core.once`, data: bytes("2") });
        await waitFor(() => witness.length === 2, { timeoutMs: WAIT_MS });
        expect(got).toEqual(["1"]);
      });
    });
  });
}
