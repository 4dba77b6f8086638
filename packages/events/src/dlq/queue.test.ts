import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { createEventBus } from "../bus/index.js";
import { createEvent, createEventRegistry, defineEvent, encodeEvent } from "../envelope/index.js";
import { waitFor } from "../testing/wait.js";
import { createMemoryBroker, type Transport } from "../transport/index.js";
import { DLQ_HEADERS } from "./dead-letter.js";
import { createDeadLetterQueue } from "./queue.js";

const Created = defineEvent({
  type: "booking.appointment.created.v1",
  schema: z.object({ bookingId: z.string() }),
});
const Cancelled = defineEvent({
  type: "booking.appointment.cancelled.v1",
  schema: z.object({ bookingId: z.string() }),
});

/** A bus whose handlers count effects; `broken` ids fail until fixed. */
async function scenario() {
  const broker = createMemoryBroker();
  const transport = broker.connect();
  const env = "dev";
  const broken = new Set<string>(["bk-2", "bk-4"]);
  const effects = new Map<string, number>();
  const bus = createEventBus({
    transport,
    service: "booking-service",
    env,
    registry: createEventRegistry().register(Created, Cancelled),
    retry: { attempts: 2, baseMs: 1, capMs: 2 },
  });
  const handler = (e: { type: string; data: unknown }) => {
    const id = (e.data as { bookingId: string }).bookingId;
    if (broken.has(id)) throw new Error(`cannot handle ${id}`);
    const key = `${e.type}:${id}`;
    effects.set(key, (effects.get(key) ?? 0) + 1);
  };
  bus.handle({ name: "created", types: [Created], handler });
  bus.handle({ name: "cancelled", types: [Cancelled], handler });
  await bus.start();
  onTestFinished(async () => {
    await bus.close();
    await broker.close();
  });
  return { transport, env, bus, broken, effects, dlq: createDeadLetterQueue({ transport, env }) };
}

async function publishRaw(transport: Transport, env: string, event: ReturnType<typeof Created.create>) {
  await transport.publish({
    subject: `${env}.${event.type}`,
    data: encodeEvent(event),
    headers: { "Content-Type": "application/cloudevents+json", "X-Trace": "t-1" },
    msgId: event.id,
  });
}

describe("dead-letter queue", () => {
  it("lists dead letters oldest first, filtered by code, consumer, type or subject, up to a limit", async () => {
    const { transport, env, dlq } = await scenario();
    for (const id of ["bk-1", "bk-2", "bk-3", "bk-4"]) {
      await publishRaw(transport, env, Created.create({ source: "s", subject: id, data: { bookingId: id } }));
    }
    const bad = createEvent({ type: Cancelled.type, source: "s", subject: "bk-9", data: { bookingId: 9 } });
    await transport.publish({ subject: `${env}.${bad.type}`, data: encodeEvent(bad), msgId: bad.id });
    await waitFor(async () => (await dlq.list()).length === 3);

    const all = await dlq.list();
    expect(all.map((d) => d.seq)).toEqual([...all.map((d) => d.seq)].sort((a, b) => a - b));
    expect(all.map((d) => d.code).sort()).toEqual(["MAX_DELIVERIES", "MAX_DELIVERIES", "SCHEMA_VIOLATION"]);
    expect(await dlq.list({ filter: { code: "SCHEMA_VIOLATION" } })).toMatchObject([
      { consumer: "booking-service-cancelled", attribute: "data.bookingId" },
    ]);
    expect(await dlq.list({ filter: { consumer: "booking-service-created" } })).toHaveLength(2);
    expect(await dlq.list({ filter: { type: Cancelled.type } })).toHaveLength(1);
    expect(await dlq.list({ filter: { subject: "cancelled" } })).toHaveLength(1);
    expect(await dlq.list({ filter: { subject: "no-such" } })).toHaveLength(0);
    expect(await dlq.list({ limit: 1 })).toEqual([all[0]]);
    expect(await dlq.list({ fromSeq: (all[0]?.seq ?? 0) + 1 })).toEqual(all.slice(1));
    expect(() => dlq.list({ limit: 0 })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
  });

  it("shows a dead letter with the original bytes and headers, and where and why it failed", async () => {
    const { transport, env, dlq } = await scenario();
    const event = Created.create({ source: "s", subject: "bk-2", data: { bookingId: "bk-2" } });
    await publishRaw(transport, env, event);
    const [listed] = await waitFor(async () => {
      const l = await dlq.list();
      return l.length === 1 ? l : undefined;
    });
    const dl = await dlq.show(listed?.seq ?? 0);
    expect(dl).toMatchObject({
      originalSubject: `${env}.${Created.type}`,
      stream: "DEV_BOOKING",
      streamSequence: 1,
      consumer: "booking-service-created",
      deliveries: 2,
      code: "MAX_DELIVERIES",
      headers: { "Content-Type": "application/cloudevents+json", "X-Trace": "t-1" },
    });
    expect(dl?.message).toContain("cannot handle bk-2");
    expect(Object.keys(dl?.headers ?? {})).not.toContain(DLQ_HEADERS.code);
    expect(Object.keys(dl?.headers ?? {})).not.toContain("Nats-Msg-Id");
    expect(new TextDecoder().decode(dl?.data)).toBe(new TextDecoder().decode(encodeEvent(event)));
    expect(await dlq.show(999)).toBeUndefined();
    await expect(dlq.show(0)).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });

  it("replays a dead letter to its subject once: the second replay finds nothing and the effect happens once", async () => {
    const { transport, env, dlq, broken, effects } = await scenario();
    await publishRaw(
      transport,
      env,
      Created.create({ source: "s", subject: "bk-2", data: { bookingId: "bk-2" } }),
    );
    const [dl] = await waitFor(async () => {
      const l = await dlq.list();
      return l.length === 1 ? l : undefined;
    });
    broken.clear();
    const first = await dlq.replay(dl?.seq ?? 0);
    expect(first).toMatchObject({
      seq: dl?.seq,
      subject: `${env}.${Created.type}`,
      msgId: `replay:DEV_DLQ:${dl?.seq}`,
      ack: { duplicate: false },
    });
    expect(await dlq.replay(dl?.seq ?? 0)).toBeUndefined();
    await waitFor(() => effects.get(`${Created.type}:bk-2`) === 1);
    expect(await dlq.list()).toEqual([]);
    // The replayed copy keeps the original headers.
    const replayed = await transport.getMessage("DEV_BOOKING", first?.ack.seq ?? 0);
    expect(replayed?.headers).toMatchObject({ "X-Trace": "t-1", "Nats-Msg-Id": first?.msgId });
    await new Promise((r) => setTimeout(r, 20));
    expect(effects.get(`${Created.type}:bk-2`)).toBe(1);
  });

  it("replays every dead letter matching a filter and leaves the others", async () => {
    const { transport, env, dlq, broken, effects } = await scenario();
    for (const id of ["bk-2", "bk-4"]) {
      await publishRaw(transport, env, Created.create({ source: "s", subject: id, data: { bookingId: id } }));
    }
    const bad = createEvent({ type: Cancelled.type, source: "s", subject: "bk-9", data: { bookingId: 9 } });
    await transport.publish({ subject: `${env}.${bad.type}`, data: encodeEvent(bad), msgId: bad.id });
    await waitFor(async () => (await dlq.list()).length === 3);
    broken.clear();
    const results = await dlq.replayAll({ code: "MAX_DELIVERIES" });
    expect(results).toHaveLength(2);
    await waitFor(() => effects.size === 2);
    expect([...effects.values()]).toEqual([1, 1]);
    expect(await dlq.list()).toMatchObject([{ code: "SCHEMA_VIOLATION" }]);
    expect(await dlq.replayAll({ code: "MAX_DELIVERIES" })).toEqual([]);
  });

  it("does not replay in a loop an event that fails again", async () => {
    const { transport, env, dlq } = await scenario();
    await publishRaw(
      transport,
      env,
      Created.create({ source: "s", subject: "bk-2", data: { bookingId: "bk-2" } }),
    );
    await waitFor(async () => (await dlq.list()).length === 1);
    const results = await dlq.replayAll();
    expect(results).toHaveLength(1);
    // Still broken: dead-lettered anew under a new DLQ sequence, left for the operator.
    const [again] = await waitFor(async () => {
      const l = await dlq.list();
      return l.length === 1 && l[0]?.seq !== results[0]?.seq ? l : undefined;
    });
    expect(again?.code).toBe("MAX_DELIVERIES");
  });
});
