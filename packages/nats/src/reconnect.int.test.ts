import {
  createEventBus,
  createEventRegistry,
  defineEvent,
  type Logger,
  type ResumeInfo,
  type StallInfo,
} from "@slotwise/events";
import { sleep, uniqueId, waitFor } from "@slotwise/events/testing";
import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { startNatsServer } from "./testing/nats-server.js";
import { createNatsTransport } from "./transport/nats-transport.js";

const Ticked = defineEvent({ type: "recon.clock.ticked.v1", schema: z.object({ n: z.number().int() }) });
const OUTAGE_MS = 10_000;

function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) =>
    void lines.push({ level, fields, message });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, lines };
}

function watch() {
  const stalls: StallInfo[] = [];
  const resumes: ResumeInfo[] = [];
  return {
    stalls,
    resumes,
    observer: {
      stalled: (i: StallInfo) => void stalls.push(i),
      resumed: (i: ResumeInfo) => void resumes.push(i),
    },
  };
}

describe("consumption across a broker outage (a nats-server of the test's own)", () => {
  it("resumes by itself after the server is away for 10 s, and the watchdog reports the interval", {
    timeout: 120_000,
  }, async () => {
    const server = await startNatsServer();
    onTestFinished(() => server.dispose());
    const connection: string[] = [];
    const transport = await createNatsTransport({
      servers: server.url,
      name: "slotwise-reconnect-test",
      reconnect: { timeWaitMs: 250, jitterMs: 50 },
      onConnectionStatus: (s) => void connection.push(s.type),
    });
    const w = watch();
    const { logger, lines } = recordingLogger();
    const env = `r${uniqueId(8)}`;
    const bus = createEventBus({
      transport,
      service: "recon",
      env,
      registry: createEventRegistry().register(Ticked),
      watchdog: { stallAfterMs: 1500, checkIntervalMs: 250 },
      logger,
      observer: w.observer,
    });
    onTestFinished(() => bus.close());
    const handled: number[] = [];
    bus.handle({
      name: "clock",
      types: [Ticked],
      handler: (e) => void handled.push((e.data as { n: number }).n),
    });
    await bus.start();
    const tick = (n: number) =>
      bus.publish(Ticked.create({ source: "recon", subject: "clock", data: { n } }));
    for (let n = 0; n < 5; n++) await tick(n);
    await waitFor(() => handled.length === 5, { message: "the first ticks are handled" });

    // A crash, not a shutdown: nothing is flushed, the clients just lose their sockets.
    await server.stop("SIGKILL");
    const stoppedAt = Date.now();
    // Silent and unable to ask the server: reported while the server is still away, never fatal.
    const stall = await waitFor(() => w.stalls[0], {
      timeoutMs: OUTAGE_MS - 1000,
      message: "the stall is reported",
    });
    expect(stall).toMatchObject({ consumer: "recon-clock", reason: "unreachable" });
    expect(lines.some((l) => l.level === "warn" && l.message.startsWith("consumer stalled"))).toBe(true);
    expect(bus.health()[0]).toMatchObject({ state: "stalled", stallReason: "unreachable" });
    await sleep(OUTAGE_MS - (Date.now() - stoppedAt));

    await server.start();
    const restartedAt = Date.now();
    // Published after the restart (the publisher retries through the reconnect), handled without help.
    for (let n = 5; n < 10; n++) await tick(n);
    await waitFor(() => handled.length === 10, {
      timeoutMs: 20_000,
      message: "ticks after the restart are handled",
    });
    expect(Date.now() - restartedAt).toBeLessThan(20_000);
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const resumed = await waitFor(() => w.resumes[0], { message: "the end of the stall is reported" });
    expect(resumed.consumer).toBe("recon-clock");
    // The silent interval covers the whole outage.
    expect(resumed.stalledMs).toBeGreaterThanOrEqual(OUTAGE_MS - 1000);
    expect(bus.health()[0]).toMatchObject({ state: "ok", stalls: 1 });
    expect(bus.health()[0]?.lastStalledMs).toBe(resumed.stalledMs);
    expect(
      lines.some((l) => l.message.startsWith("consumer resumed") && l.fields.stalledMs === resumed.stalledMs),
    ).toBe(true);
    expect(connection).toEqual(expect.arrayContaining(["disconnect", "reconnect"]));
  });

  it("reports a consumer whose handlers never finish (max_ack_pending exhausted) and the interval when they do", {
    timeout: 60_000,
  }, async () => {
    const transport = await createNatsTransport({
      servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
      name: "slotwise-stall-test",
    });
    const env = `s${uniqueId(8)}`;
    onTestFinished(async () => {
      // A connection of its own: the bus closed its transport by now (hooks run last-registered first).
      const admin = await createNatsTransport({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
      for (const s of ["RECON", "DLQ"])
        await admin.deleteStream(`${env.toUpperCase()}_${s}`).catch(() => false);
      await admin.close();
    });
    const w = watch();
    const recoveries: unknown[] = [];
    const { logger, lines } = recordingLogger();
    const bus = createEventBus({
      transport,
      service: "stall",
      env,
      registry: createEventRegistry().register(Ticked),
      watchdog: { stallAfterMs: 1000, checkIntervalMs: 200 },
      deadLetterSweeper: false,
      logger,
      observer: { ...w.observer, recovered: (i) => void recoveries.push(i) },
    });
    onTestFinished(() => bus.close());
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    onTestFinished(() => release());
    const handled: number[] = [];
    bus.handle({
      name: "slow",
      types: [Ticked],
      maxInFlight: 2,
      ackWaitMs: 60_000,
      handler: async (e) => {
        await gate;
        handled.push((e.data as { n: number }).n);
      },
    });
    await bus.start();
    // Two subjects, so the two in flight do not queue behind each other.
    for (let n = 0; n < 6; n++) {
      await bus.publish(Ticked.create({ source: "stall", subject: `clock-${n % 3}`, data: { n } }));
    }
    const stall = await waitFor(() => w.stalls[0], { message: "the stall is reported" });
    expect(stall).toMatchObject({ reason: "pending", pending: 4, ackPending: 2 });
    expect(lines.find((l) => l.level === "warn")?.message).toMatch(/max_ack_pending \(2\) reached/);
    // The pull loop was re-created (a real restart of the NATS consume loop); it cannot help here.
    await waitFor(() => recoveries.length >= 1, { message: "a recovery is attempted" });
    expect(recoveries[0]).not.toHaveProperty("error");

    release();
    await waitFor(() => handled.length === 6, { message: "every tick is handled once the handlers finish" });
    expect([...handled].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const resumed = await waitFor(() => w.resumes[0]);
    expect(resumed).toMatchObject({ reason: "pending", via: "delivery" });
    expect(resumed.stalledMs).toBeGreaterThanOrEqual(1000);
  });
});
