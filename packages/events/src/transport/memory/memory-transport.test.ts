import { AsyncLocalStorage } from "node:async_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { isSlotwiseError } from "../../errors/errors.js";
import { sleep, waitFor } from "../../testing/wait.js";
import type { ReceivedMessage, Transport } from "../transport.js";
import {
  createMemoryBroker,
  createMemoryTransport,
  type MemoryBroker,
  type MemoryBrokerOptions,
} from "./index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);
const text = (b: Uint8Array) => decoder.decode(b);

let brokers: MemoryBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.map((b) => b.close()));
  brokers = [];
});

function broker(options?: MemoryBrokerOptions): MemoryBroker {
  const b = createMemoryBroker(options);
  brokers.push(b);
  return b;
}

async function codeOf(action: () => unknown): Promise<string | undefined> {
  try {
    await action();
  } catch (err) {
    return isSlotwiseError(err) ? err.code : `not a SlotwiseError: ${String(err)}`;
  }
  return undefined;
}

async function withStream(t: Transport, extra: Record<string, unknown> = {}) {
  await t.ensureStream({ name: "DEV_BOOKING", subjects: ["dev.booking.>"], ...extra });
  return "dev.booking.appointment.created.v1";
}

describe("memory transport: limits", () => {
  it("refuses a message over the stream's maxMsgSize", async () => {
    const t = broker().connect();
    const subject = await withStream(t, { maxMsgSize: 100 });
    expect(await codeOf(() => t.publish({ subject, data: new Uint8Array(101) }))).toBe("MESSAGE_TOO_LARGE");
    expect((await t.publish({ subject, data: new Uint8Array(50) })).seq).toBe(1);
    expect((await t.streamInfo("DEV_BOOKING"))?.messages).toBe(1);
  });

  it("refuses a core or stream message over the broker's maxPayload", async () => {
    const t = broker({ maxPayload: 64 }).connect();
    const subject = await withStream(t);
    expect(await codeOf(() => t.publish({ subject, data: new Uint8Array(65) }))).toBe("MESSAGE_TOO_LARGE");
    expect(await codeOf(() => t.publishCore({ subject: "x.y", data: new Uint8Array(65) }))).toBe(
      "MESSAGE_TOO_LARGE",
    );
  });

  it("drops messages older than maxAge, and their pending count with them", async () => {
    const t = broker().connect();
    const subject = await withStream(t, { maxAgeMs: 200, duplicateWindowMs: 100 });
    await t.ensureConsumer({ stream: "DEV_BOOKING", durable: "late" });
    await t.publish({ subject, data: bytes("a") });
    await t.publish({ subject, data: bytes("b") });
    expect((await t.consumerInfo("DEV_BOOKING", "late"))?.pending).toBe(2);
    await waitFor(async () => (await t.streamInfo("DEV_BOOKING"))?.messages === 0);
    expect((await t.consumerInfo("DEV_BOOKING", "late"))?.pending).toBe(0);
    const info = await t.streamInfo("DEV_BOOKING");
    expect(info?.firstSeq).toBe(3);
    expect(info?.lastSeq).toBe(2);
  });

  it("forgets a msgId after the duplicate window", async () => {
    const t = broker().connect();
    const subject = await withStream(t, { duplicateWindowMs: 50 });
    expect((await t.publish({ subject, data: bytes("a"), msgId: "e1" })).duplicate).toBe(false);
    expect((await t.publish({ subject, data: bytes("a"), msgId: "e1" })).duplicate).toBe(true);
    await sleep(80);
    const again = await t.publish({ subject, data: bytes("a"), msgId: "e1" });
    expect(again).toEqual({ stream: "DEV_BOOKING", seq: 2, duplicate: false });
  });

  it("dedupes on a Nats-Msg-Id header too and stores the msgId as that header", async () => {
    const t = broker().connect();
    const subject = await withStream(t);
    await t.publish({ subject, data: bytes("a"), msgId: "e1" });
    expect((await t.publish({ subject, data: bytes("a"), headers: { "Nats-Msg-Id": "e1" } })).duplicate).toBe(
      true,
    );
    expect((await t.getMessage("DEV_BOOKING", 1))?.headers["Nats-Msg-Id"]).toBe("e1");
  });

  it("keeps the stored bytes when the publisher reuses its buffer", async () => {
    const t = broker().connect();
    const subject = await withStream(t);
    const buffer = bytes("original");
    await t.publish({ subject, data: buffer });
    buffer.fill(0);
    expect(text((await t.getMessage("DEV_BOOKING", 1))?.data ?? new Uint8Array())).toBe("original");
  });
});

describe("memory transport: configuration errors", () => {
  it("refuses overlapping stream subjects, bad names and contradicting options", async () => {
    const t = broker().connect();
    await withStream(t);
    const code = (name: string, subjects: string[], extra = {}) =>
      codeOf(() => t.ensureStream({ name, subjects, ...extra }));
    expect(await code("OTHER", ["dev.booking.appointment.*"])).toBe("INVALID_OPTIONS");
    expect(await code("OTHER", ["dev.>"])).toBe("INVALID_OPTIONS");
    expect(await code("BAD.NAME", ["x.>"])).toBe("INVALID_OPTIONS");
    expect(await code("OTHER", [])).toBe("INVALID_OPTIONS");
    expect(await code("OTHER", ["x.>"], { maxAgeMs: 1000, duplicateWindowMs: 2000 })).toBe("INVALID_OPTIONS");
    expect(await code("DEV_BOOKING", ["dev.booking.>"], { storage: "memory" })).toBe("INVALID_OPTIONS");
    expect(await code("DEV_PAYMENT", ["dev.payment.>"])).toBeUndefined();
  });

  it("reports missing streams and consumers as NOT_FOUND", async () => {
    const t = broker().connect();
    expect(await codeOf(() => t.publish({ subject: "dev.nothing.v1", data: bytes("x") }))).toBe("NOT_FOUND");
    expect(await codeOf(() => t.ensureConsumer({ stream: "NONE", durable: "d" }))).toBe("NOT_FOUND");
    expect(await codeOf(() => t.getMessage("NONE", 1))).toBe("NOT_FOUND");
    await withStream(t);
    expect(await codeOf(() => t.consume({ stream: "DEV_BOOKING", durable: "none" }, () => undefined))).toBe(
      "NOT_FOUND",
    );
  });

  it("refuses a filter outside the stream and out-of-range consumer options", async () => {
    const t = broker().connect();
    await withStream(t);
    const code = (extra: Record<string, unknown>) =>
      codeOf(() => t.ensureConsumer({ stream: "DEV_BOOKING", durable: "d", ...extra }));
    expect(await code({ filterSubjects: ["dev.payment.>"] })).toBe("INVALID_OPTIONS");
    expect(await code({ ackWaitMs: 0 })).toBe("INVALID_OPTIONS");
    expect(await code({ maxAckPending: 0 })).toBe("INVALID_OPTIONS");
    expect(await code({ durable: "a.b" })).toBe("INVALID_OPTIONS");
    expect(await codeOf(() => t.publish({ subject: "dev.booking.*", data: bytes("x") }))).toBe(
      "INVALID_SUBJECT",
    );
    await t.ensureConsumer({ stream: "DEV_BOOKING", durable: "d" });
    expect(
      await codeOf(() =>
        t.consume({ stream: "DEV_BOOKING", durable: "d" }, () => undefined, { maxInFlight: 0 }),
      ),
    ).toBe("INVALID_OPTIONS");
  });
});

describe("memory transport: lifecycle", () => {
  it("close() ends subscriptions at once, fails pending requests and refuses further calls", async () => {
    const b = broker();
    const t = b.connect();
    const responder = b.connect();
    const subject = await withStream(t);
    await t.ensureConsumer({ stream: "DEV_BOOKING", durable: "d" });
    const sub = await t.consume(
      { stream: "DEV_BOOKING", durable: "d" },
      () => new Promise<void>(() => undefined),
    );
    const core = t.subscribe("x.>", () => undefined);
    responder.subscribe("svc.slow", () => undefined);
    await t.publish({ subject, data: bytes("x") });
    const pending = t.request({ subject: "svc.slow", data: bytes("?") }, { timeoutMs: 60_000 });
    await t.close();
    await sub.closed;
    await core.closed;
    expect(await codeOf(() => pending)).toBe("CLOSED");
    expect(await codeOf(() => t.publish({ subject, data: bytes("y") }))).toBe("CLOSED");
    expect(await codeOf(() => t.subscribe("a", () => undefined))).toBe("CLOSED");
    await t.close(); // idempotent
    await sub.stop(); // resolves after close
  });

  it("ignores the late ack of a closed connection, even before the ack wait", async () => {
    const b = broker();
    const a = b.connect();
    const admin = b.connect();
    const subject = await withStream(a);
    await a.ensureConsumer({ stream: "DEV_BOOKING", durable: "d", ackWaitMs: 60_000 });
    let held: ReceivedMessage | undefined;
    await a.consume({ stream: "DEV_BOOKING", durable: "d" }, (m) => {
      held = m;
      return new Promise<void>(() => undefined);
    });
    await a.publish({ subject, data: bytes("x") });
    await waitFor(() => held);
    await a.close();
    held?.ack();
    expect((await admin.consumerInfo("DEV_BOOKING", "d"))?.ackPending).toBe(1);
  });

  it("deleting a stream ends the subscriptions of its consumers", async () => {
    const t = broker().connect();
    await withStream(t);
    await t.ensureConsumer({ stream: "DEV_BOOKING", durable: "d" });
    const sub = await t.consume({ stream: "DEV_BOOKING", durable: "d" }, () => undefined);
    expect(await t.deleteStream("DEV_BOOKING")).toBe(true);
    await sub.closed;
    expect(await t.consumerInfo("DEV_BOOKING", "d")).toBeUndefined();
  });

  it("createMemoryTransport closes its own broker with the connection", async () => {
    const t = createMemoryTransport();
    expect(t.kind).toBe("memory");
    const subject = await withStream(t);
    expect((await t.publish({ subject, data: bytes("x") })).seq).toBe(1);
    await t.close();
    expect(await codeOf(() => t.streamInfo("DEV_BOOKING"))).toBe("CLOSED");
  });
});

describe("memory transport: JetStream behaviours beyond the suite", () => {
  it("captures the max-deliveries advisory in a stream, after ack-wait expiries", async () => {
    const t = broker().connect();
    const subject = await withStream(t);
    await t.ensureStream({ name: "ADVISORIES", subjects: ["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"] });
    await t.ensureConsumer({ stream: "DEV_BOOKING", durable: "stuck", maxDeliver: 2, ackWaitMs: 20 });
    let calls = 0;
    await t.consume({ stream: "DEV_BOOKING", durable: "stuck" }, (m) => {
      calls++;
      if (m.deliveryCount > 2) throw new Error("delivered past maxDeliver");
      return new Promise<void>(() => undefined); // stalls: only the ack wait ends each delivery
    });
    await t.publish({ subject, data: bytes("x") });
    await waitFor(async () => (await t.streamInfo("ADVISORIES"))?.messages === 1);
    const stored = await t.getMessage("ADVISORIES", 1);
    expect(stored?.subject).toBe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.DEV_BOOKING.stuck");
    const body = JSON.parse(text(stored?.data ?? new Uint8Array())) as Record<string, unknown>;
    expect(body).toMatchObject({ stream: "DEV_BOOKING", consumer: "stuck", stream_seq: 1, deliveries: 2 });
    expect(typeof body.id).toBe("string");
    expect(calls).toBe(2);
    const info = await t.consumerInfo("DEV_BOOKING", "stuck");
    expect(info?.ackPending).toBe(0);
    expect(info?.ackFloor).toBe(1);
  });

  it("answers a request on a stream subject with the publish ack, and stores core publishes", async () => {
    const t = broker().connect();
    const subject = await withStream(t);
    const reply = await t.request({ subject, data: bytes("x") });
    expect(JSON.parse(text(reply.data))).toEqual({ stream: "DEV_BOOKING", seq: 1, duplicate: false });
    t.publishCore({ subject, data: bytes("y") });
    expect((await t.streamInfo("DEV_BOOKING"))?.messages).toBe(2);
  });

  it("drops a waiting redelivery whose message was deleted", async () => {
    const t = broker().connect();
    const subject = await withStream(t);
    await t.ensureConsumer({ stream: "DEV_BOOKING", durable: "d" });
    const seen: number[] = [];
    await t.consume({ stream: "DEV_BOOKING", durable: "d" }, (m) => {
      seen.push(m.streamSequence);
      m.nak(100);
    });
    await t.publish({ subject, data: bytes("x") });
    await waitFor(() => seen.length === 1);
    expect(await t.deleteMessage("DEV_BOOKING", 1)).toBe(true);
    await waitFor(async () => (await t.consumerInfo("DEV_BOOKING", "d"))?.ackPending === 0);
    expect(seen).toEqual([1]);
  });

  it("counts pending exactly for a filtered durable on a large stream, and startTime skips holes", async () => {
    const t = broker().connect();
    await withStream(t);
    for (let i = 1; i <= 3000; i++) {
      const kind = i % 100 === 0 ? "confirmed" : "created";
      await t.publish({ subject: `dev.booking.appointment.${kind}.v1`, data: bytes(String(i)) });
    }
    for (let i = 1000; i <= 2000; i++) await t.deleteMessage("DEV_BOOKING", i);
    const info = await t.ensureConsumer({
      stream: "DEV_BOOKING",
      durable: "confirmed",
      filterSubjects: ["dev.booking.appointment.confirmed.v1"],
    });
    expect(info.pending).toBe(19); // 30 multiples of 100, minus the 11 deleted (1000..2000)
    const got: number[] = [];
    await t.consume({ stream: "DEV_BOOKING", durable: "confirmed" }, (m) => {
      got.push(m.streamSequence);
    });
    await waitFor(() => got.length === 19);
    expect(got.every((seq) => seq % 100 === 0 && (seq < 1000 || seq > 2000))).toBe(true);
    await waitFor(async () => (await t.consumerInfo("DEV_BOOKING", "confirmed"))?.ackPending === 0);

    const third = await t.getMessage("DEV_BOOKING", 2500);
    const since = await t.ensureConsumer({
      stream: "DEV_BOOKING",
      durable: "since",
      deliverPolicy: { startTime: third?.timestamp ?? new Date() },
    });
    // Every message from 2500 on, plus those earlier ones that share its millisecond.
    expect(since.pending).toBeGreaterThanOrEqual(501);
    expect(since.pending).toBeLessThanOrEqual(3000 - 1001);
  });

  it("reports core handler errors to onCoreHandlerError and keeps delivering", async () => {
    const errors: unknown[] = [];
    const t = broker({ onCoreHandlerError: (err) => errors.push(err) }).connect();
    const got: string[] = [];
    t.subscribe("svc.x", (m) => {
      got.push(text(m.data));
      if (got.length === 1) throw new Error("first fails");
    });
    t.publishCore({ subject: "svc.x", data: bytes("1") });
    t.publishCore({ subject: "svc.x", data: bytes("2") });
    await waitFor(() => got.length === 2);
    expect(got).toEqual(["1", "2"]);
    expect(errors).toHaveLength(1);
  });

  it("runs handlers in their connection's async context, not in the publisher's", async () => {
    const als = new AsyncLocalStorage<string>();
    const b = broker();
    const consumer = b.connect();
    const publisher = b.connect();
    const subject = await withStream(consumer);
    await consumer.ensureConsumer({ stream: "DEV_BOOKING", durable: "d" });
    const stores: (string | undefined)[] = [];
    await consumer.consume({ stream: "DEV_BOOKING", durable: "d" }, async () => {
      stores.push(als.getStore());
      await sleep(1);
      stores.push(als.getStore());
    });
    consumer.subscribe("svc.ping", () => {
      stores.push(als.getStore());
    });
    await sleep(5); // lets the consumer's first (empty) dispatch pass, so the publish schedules the next one
    await als.run("publisher", async () => {
      await publisher.publish({ subject, data: bytes("x") });
      publisher.publishCore({ subject: "svc.ping", data: bytes("x") });
    });
    await waitFor(() => stores.length === 3);
    expect(stores).toEqual([undefined, undefined, undefined]);
  });
});
