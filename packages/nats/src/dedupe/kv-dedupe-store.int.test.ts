import { jetstreamManager } from "@nats-io/jetstream";
import {
  createEvent,
  createEventBus,
  createEventRegistry,
  defineEvent,
  encodeEvent,
  isSlotwiseError,
} from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { startNatsServer } from "../testing/nats-server.js";
import { createNatsTransport } from "../transport/nats-transport.js";
import { createKvDedupeStore } from "./kv-dedupe-store.js";

const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

async function setup(url = servers) {
  const transport = await createNatsTransport({ servers: url, name: "slotwise-kv-dedupe-test" });
  const bucket = `dedupe_${uniqueId()}`;
  onTestFinished(async () => {
    if (!transport.connection.isClosed()) {
      const jsm = await jetstreamManager(transport.connection);
      await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
    }
    await transport.close();
  });
  return { transport, bucket };
}

describe("NATS KV dedupe store", () => {
  it("remembers (consumer, event id) pairs, each consumer on its own", async () => {
    const { transport, bucket } = await setup();
    const store = await createKvDedupeStore({ connection: transport.connection, bucket, storage: "memory" });
    expect(await store.seen("svc-a", "e1")).toBe(false);
    await store.remember("svc-a", "e1");
    expect(await store.seen("svc-a", "e1")).toBe(true);
    expect(await store.seen("svc-b", "e1")).toBe(false);
    expect(await store.seen("svc-a", "e2")).toBe(false);
    // Ids that are not legal KV keys work too, and stay apart.
    await store.remember("svc-a", "with.dots and spaces");
    expect(await store.seen("svc-a", "with.dots and spaces")).toBe(true);
    expect(await store.seen("svc-a", "with.dots and spaces ")).toBe(false);
    await store.forget("svc-a", "e1");
    expect(await store.seen("svc-a", "e1")).toBe(false);
  });

  it("forgets an id after the TTL (the bucket's max_age)", async () => {
    const { transport, bucket } = await setup();
    const store = await createKvDedupeStore({
      connection: transport.connection,
      bucket,
      ttlMs: 1000,
      storage: "memory",
    });
    await store.remember("svc", "e1");
    expect(await store.seen("svc", "e1")).toBe(true);
    await waitFor(async () => !(await store.seen("svc", "e1")), {
      timeoutMs: 15_000,
      intervalMs: 200,
      message: "the record expires",
    });
  });

  it("aligns an existing bucket's TTL with the one asked for", async () => {
    const { transport, bucket } = await setup();
    await createKvDedupeStore({ connection: transport.connection, bucket, ttlMs: 60_000, storage: "memory" });
    const store = await createKvDedupeStore({ connection: transport.connection, bucket, ttlMs: 5_000 });
    const jsm = await jetstreamManager(transport.connection);
    const info = await jsm.streams.info(`KV_${bucket}`);
    expect(info.config.max_age).toBe(5_000 * 1_000_000);
    expect(store.ttlMs).toBe(5_000);
  });

  it("refuses a bad bucket name or TTL", async () => {
    const { transport } = await setup();
    for (const bad of [{ bucket: "no.dots" }, { ttlMs: 10 }]) {
      const err = await createKvDedupeStore({ connection: transport.connection, ...bad }).catch(
        (e: unknown) => e,
      );
      expect(isSlotwiseError(err, "INVALID_OPTIONS")).toBe(true);
    }
  });

  it("as the bus's dedupe store, shared by two instances: a second copy of an event is skipped", async () => {
    const Added = defineEvent({ type: "kvd.item.added.v1", schema: z.object({ n: z.number() }) });
    const env = `k${uniqueId(8)}`;
    const { transport, bucket } = await setup();
    const handled: string[] = [];
    const skipped: string[] = [];
    const bus = async () => {
      const t = await createNatsTransport({ servers, name: "slotwise-kv-dedupe-bus" });
      const b = createEventBus({
        transport: t,
        service: "kvd",
        env,
        registry: createEventRegistry().register(Added),
        dedupe: await createKvDedupeStore({ connection: t.connection, bucket, storage: "memory" }),
        deadLetterSweeper: false,
        observer: { skipped: (i) => void skipped.push(i.reason) },
      });
      b.handle({ name: "counter", types: [Added], handler: (e) => void handled.push(e.id) });
      onTestFinished(() => b.close());
      return b;
    };
    onTestFinished(async () => {
      for (const s of ["KVD", "DLQ"])
        await transport.deleteStream(`${env.toUpperCase()}_${s}`).catch(() => false);
    });
    const first = await bus();
    await first.start();
    const event = createEvent({ type: Added.type, source: "kvd", subject: "item-1", data: { n: 1 } });
    await first.publish(event);
    await waitFor(() => handled.length === 1);
    await first.drain();

    // Another instance (nothing in memory) gets a second copy of the event: the bucket remembers it.
    const second = await bus();
    await second.start();
    await transport.publish({ subject: `${env}.${Added.type}`, data: encodeEvent(event) });
    await waitFor(() => skipped.includes("duplicate"), { message: "the copy is skipped" });
    expect(handled).toEqual([event.id]);
  });

  it("fails with a retryable error while the server is away, and works again after it is back", async () => {
    const server = await startNatsServer();
    onTestFinished(() => server.dispose());
    const { transport, bucket } = await setup(server.url);
    const store = await createKvDedupeStore({ connection: transport.connection, bucket, timeoutMs: 500 });
    await store.remember("svc", "e1");
    await server.stop();
    const err = await Promise.resolve(store.seen("svc", "e1")).catch((e: unknown) => e);
    expect(isSlotwiseError(err, "TIMEOUT") || isSlotwiseError(err, "UNAVAILABLE")).toBe(true);
    await server.start();
    // File storage: the record survived the restart.
    expect(await waitFor(() => store.seen("svc", "e1"), { timeoutMs: 15_000, intervalMs: 100 })).toBe(true);
  });
});
