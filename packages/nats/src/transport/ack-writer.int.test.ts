import { AckPolicy, type JsMsg, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import { describe, expect, it, onTestFinished } from "vitest";
import { ackSubjectOf, createAckWriter } from "./ack-writer.js";
import { ConsumeLoop } from "./consume.js";

const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** A memory stream holding `n` messages and a pull durable on it; all removed when the test ends. */
async function fixture(n: number) {
  const nc = await connect({ servers, name: "slotwise-ack-writer-int" });
  const jsm = await jetstreamManager(nc);
  const id = uniqueId(10);
  const stream = `ACKW_${id.toUpperCase()}`;
  await jsm.streams.add({ name: stream, subjects: [`ackw${id}.>`], storage: StorageType.Memory });
  await jsm.consumers.add(stream, {
    durable_name: "d",
    ack_policy: AckPolicy.Explicit,
    ack_wait: 2_000_000_000, // 2 s: a lost ack would show as a redelivery soon
    max_ack_pending: 2_000,
  });
  onTestFinished(async () => {
    if (nc.isClosed()) {
      const admin = await connect({ servers });
      await (await jetstreamManager(admin)).streams.delete(stream).catch(() => false);
      await admin.close();
    } else {
      await jsm.streams.delete(stream).catch(() => false);
      await nc.close();
    }
  });
  const js = jetstream(nc);
  for (let i = 0; i < n; i++) await js.publish(`ackw${id}.x`, new TextEncoder().encode(String(i)));
  const fetchAll = async (): Promise<JsMsg[]> => {
    const consumer = await js.consumers.get(stream, "d");
    const out: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: n, expires: 2_000 })) {
      out.push(m);
      if (out.length === n) break;
    }
    return out;
  };
  return { nc, jsm, stream, fetchAll };
}

const replyOf = (m: JsMsg) => (m as unknown as { reply: string }).reply;

/** Counts the protocol commands holding acks that the connection is handed. */
function countAckCommands(nc: NatsConnection): { readonly count: number } {
  const protocol = (nc as unknown as { protocol: { sendCommand: (...a: unknown[]) => void } }).protocol;
  const original = protocol.sendCommand.bind(protocol);
  const counter = { count: 0 };
  protocol.sendCommand = (...a: unknown[]) => {
    if (a[0] instanceof Uint8Array && Buffer.from(a[0]).includes("+ACK")) counter.count++;
    original(...a);
  };
  return counter;
}

describe("batched ack writer", () => {
  it("is available on the pinned nats.js connection (else every ack pays nats.js's encoding)", async () => {
    const { nc } = await fixture(0);
    expect(createAckWriter(nc)).toBeDefined();
    expect(createAckWriter({} as NatsConnection)).toBeUndefined();
  });

  it("reads a delivery's ack subject as the bytes nats.js received", async () => {
    const { fetchAll } = await fixture(1);
    const [m] = await fetchAll();
    const subject = ackSubjectOf(m!);
    expect(subject).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(subject as Uint8Array).toString()).toBe(replyOf(m!));
    expect(replyOf(m!)).toMatch(/^\$JS\.ACK\./);
  });

  it("acks a turn's messages in one command, and the server takes every ack (none redelivered)", async () => {
    const n = 200;
    const { nc, jsm, stream, fetchAll } = await fixture(n);
    const writer = createAckWriter(nc)!;
    const messages = await fetchAll();
    expect(messages).toHaveLength(n);
    await nc.flush();
    const before = nc.stats().outMsgs;
    const commands = countAckCommands(nc);
    for (const m of messages) writer.ack(ackSubjectOf(m)!);
    await Promise.resolve(); // the writer hands its batch over at the end of the turn
    expect(commands.count).toBe(1);
    expect(nc.stats().outMsgs - before).toBe(n);
    await nc.flush();
    const info = await jsm.consumers.info(stream, "d");
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(n);
    // past the ack wait: nothing comes back
    await new Promise((r) => setTimeout(r, 2_500));
    const after = await jsm.consumers.info(stream, "d");
    expect(after.num_redelivered).toBe(0);
    expect(after.num_pending).toBe(0);
    expect(after.delivered.consumer_seq).toBe(n);
  });

  it("splits a turn with more acks than its buffer holds, takes subjects as strings, and flush() sends at once", async () => {
    const n = 1_200; // about 80 KiB of acks
    const { nc, jsm, stream, fetchAll } = await fixture(n);
    const writer = createAckWriter(nc)!;
    const messages = await fetchAll();
    expect(messages).toHaveLength(n);
    const commands = countAckCommands(nc);
    for (const m of messages.slice(0, -1)) writer.ack(replyOf(m));
    writer.flush();
    const split = commands.count;
    expect(split).toBeGreaterThan(1);
    writer.ack(replyOf(messages.at(-1)!));
    writer.flush();
    expect(commands.count).toBe(split + 1);
    await nc.flush();
    const info = await jsm.consumers.info(stream, "d");
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(n);
  });

  it("leaves the consume loop acking through JsMsg.ack() where there is no writer", async () => {
    const n = 50;
    const { nc, jsm, stream } = await fixture(n);
    const js = jetstream(nc);
    const commands = countAckCommands(nc);
    let handled = 0;
    const loop = await ConsumeLoop.start(
      { nc, js, termWithReason: false, onEnded: () => undefined },
      { stream, durable: "d" },
      () => {
        handled++;
      },
    );
    onTestFinished(() => loop.stop());
    await waitFor(async () => (await jsm.consumers.info(stream, "d")).ack_floor.stream_seq === n, {
      timeoutMs: 10_000,
    });
    expect(handled).toBe(n);
    // nats.js's own acks hand over their protocol line as a string: none went through a writer
    expect(commands.count).toBe(0);
  });

  it("sends nothing, and does not throw, once the connection is closed", async () => {
    const { nc, fetchAll } = await fixture(1);
    const writer = createAckWriter(nc)!;
    const [m] = await fetchAll();
    await nc.close();
    expect(() => writer.ack(replyOf(m!))).not.toThrow();
    expect(() => writer.flush()).not.toThrow();
  });
});
