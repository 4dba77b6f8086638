import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { createEventRegistry, defineEvent } from "../envelope/index.js";
import { isSlotwiseError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { uniqueId, waitFor } from "../testing/wait.js";
import { createMemoryTransport } from "../transport/index.js";
import type { ConsumerInfo } from "../transport/transport.js";
import { createEventBus } from "./event-bus.js";
import {
  type ConsumerWatchdogInput,
  createConsumerWatchdog,
  parseWatchdogOptions,
  type RecoveryInfo,
  type ResumeInfo,
  type StallInfo,
} from "./watchdog.js";

const who = { handler: "projector", consumer: "svc-projector", stream: "DEV_BOOKING" };

function info(pending: number, ackPending = 0): ConsumerInfo {
  return { stream: who.stream, durable: who.consumer, pending, ackPending, redelivered: 0, ackFloor: 0 };
}

interface Line {
  level: keyof Logger;
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: keyof Logger) =>
    (fields: Record<string, unknown>, message: string): void =>
      void lines.push({ level, fields, message });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A watchdog on a hand-driven clock: `check()` is called by the test, never by a timer. */
function harness(overrides: Partial<ConsumerWatchdogInput> = {}) {
  let now = 1_000_000;
  const stalls: StallInfo[] = [];
  const resumes: ResumeInfo[] = [];
  const recoveries: RecoveryInfo[] = [];
  const logger = recordingLogger();
  let answer: () => Promise<ConsumerInfo | undefined> = async () => info(0);
  let recovered = 0;
  const dog = createConsumerWatchdog({
    ...who,
    options: parseWatchdogOptions({ stallAfterMs: 1000, probeTimeoutMs: 50 }),
    probe: () => answer(),
    recover: async () => {
      recovered++;
    },
    maxAckPending: 10,
    onStall: (i) => void stalls.push(i),
    onResume: (i) => void resumes.push(i),
    onRecover: (i) => void recoveries.push(i),
    logger,
    now: () => now,
    ...overrides,
  });
  onTestFinished(() => dog.stop());
  return {
    dog,
    stalls,
    resumes,
    recoveries,
    logger,
    recovered: () => recovered,
    advance(ms: number) {
      now += ms;
    },
    now: () => now,
    answer(fn: () => Promise<ConsumerInfo | undefined>) {
      answer = fn;
    },
  };
}

describe("consumer watchdog", () => {
  it("does not ask the server while messages flow", async () => {
    let probes = 0;
    const h = harness({
      probe: async () => {
        probes++;
        return info(5);
      },
    });
    for (let i = 0; i < 5; i++) {
      h.dog.delivered();
      h.advance(900);
      await h.dog.check();
    }
    expect(probes).toBe(0);
    expect(h.stalls).toEqual([]);
    expect(h.dog.health()).toMatchObject({ state: "ok", delivered: 5, stalls: 0 });
  });

  it("treats a silent consumer with nothing pending as idle, not stalled", async () => {
    const h = harness();
    h.advance(5000);
    await h.dog.check();
    h.advance(5000);
    await h.dog.check();
    expect(h.stalls).toEqual([]);
    expect(h.dog.health()).toMatchObject({ state: "ok", pending: 0, lastProgressAt: h.now() });
  });

  it("reports a stall with messages pending once, recovers, and reports the silent interval when delivery resumes", async () => {
    const h = harness();
    const start = h.now();
    h.answer(async () => info(7, 3));
    h.advance(1500);
    await h.dog.check();
    expect(h.stalls).toEqual([
      expect.objectContaining({
        ...who,
        reason: "pending",
        pending: 7,
        ackPending: 3,
        since: start,
        silentMs: 1500,
      }),
    ]);
    expect(h.recovered()).toBe(1);
    expect(h.logger.lines.find((l) => l.level === "warn")).toMatchObject({
      fields: { consumer: who.consumer, reason: "pending", pending: 7 },
      message: expect.stringContaining("7 message(s) pending"),
    });

    // Still stalled: no second report, and no second recovery before another stallAfterMs.
    h.advance(500);
    await h.dog.check();
    expect(h.stalls).toHaveLength(1);
    expect(h.recovered()).toBe(1);
    h.advance(600);
    await h.dog.check();
    expect(h.recovered()).toBe(2);
    expect(h.recoveries.map((r) => r.attempt)).toEqual([1, 2]);

    h.advance(400);
    h.dog.delivered();
    expect(h.resumes).toEqual([
      expect.objectContaining({ reason: "pending", since: start, stalledMs: 3000, via: "delivery" }),
    ]);
    expect(h.dog.health()).toMatchObject({
      state: "ok",
      stalls: 1,
      recoveries: 2,
      lastStalledMs: 3000,
      totalStalledMs: 3000,
      stalledSince: 0,
    });
  });

  it("explains a stall caused by max_ack_pending exhausted", async () => {
    const h = harness();
    h.answer(async () => info(100, 10));
    h.advance(2000);
    await h.dog.check();
    expect(h.logger.lines.find((l) => l.level === "warn")?.message).toMatch(/max_ack_pending \(10\) reached/);
  });

  it("reports an unreachable server as a stall without recovering, and resumes when the backlog is empty again", async () => {
    const h = harness();
    h.answer(async () => {
      throw new Error("disconnected");
    });
    h.advance(1200);
    await h.dog.check();
    expect(h.stalls).toEqual([expect.objectContaining({ reason: "unreachable", error: expect.any(Error) })]);
    expect(h.recovered()).toBe(0);
    h.advance(10_000);
    await h.dog.check();
    expect(h.dog.health()).toMatchObject({ state: "stalled", stallReason: "unreachable" });

    h.answer(async () => info(0));
    h.advance(300);
    await h.dog.check();
    expect(h.resumes).toEqual([expect.objectContaining({ via: "caught_up", stalledMs: 11_500 })]);
  });

  it("counts a probe that never answers as unreachable", async () => {
    const h = harness();
    h.answer(() => new Promise<never>(() => {}));
    h.advance(1000);
    await h.dog.check();
    expect(h.stalls).toHaveLength(1);
    expect(isSlotwiseError(h.stalls[0]?.error, "TIMEOUT")).toBe(true);
  });

  it("switches to recovery when an unreachable server comes back with a stalled pull", async () => {
    const h = harness();
    h.answer(async () => {
      throw new Error("disconnected");
    });
    h.advance(1000);
    await h.dog.check();
    h.answer(async () => info(4));
    h.advance(200);
    await h.dog.check();
    expect(h.recovered()).toBe(1);
    expect(h.dog.health()).toMatchObject({ state: "stalled", stallReason: "pending", stalls: 1 });
  });

  it("reports a missing durable", async () => {
    const h = harness();
    h.answer(async () => undefined);
    h.advance(1000);
    await h.dog.check();
    expect(h.stalls).toEqual([expect.objectContaining({ reason: "missing" })]);
    expect(h.recovered()).toBe(0);
  });

  it("survives a failing recovery and throwing listeners", async () => {
    const h = harness({
      recover: async () => {
        throw new Error("restart failed");
      },
      onStall: () => {
        throw new Error("listener bug");
      },
    });
    h.answer(async () => info(1));
    h.advance(1000);
    await expect(h.dog.check()).resolves.toBeUndefined();
    expect(h.dog.health()).toMatchObject({ state: "stalled", failedRecoveries: 1, recoveries: 0 });
    expect(h.logger.lines.some((l) => l.level === "error" && l.message.includes("recovery failed"))).toBe(
      true,
    );
  });

  it("rejects contradicting options, naming the field", () => {
    expect(() => parseWatchdogOptions({ stallAfterMs: 0 })).toThrow(/stallAfterMs/);
    expect(() => parseWatchdogOptions({ stallAfterMs: 1000, checkIntervalMs: 5000 })).toThrow(
      /checkIntervalMs/,
    );
    expect(parseWatchdogOptions({})).toEqual({
      stallAfterMs: 30_000,
      checkIntervalMs: 5_000,
      probeTimeoutMs: 5_000,
      recover: true,
    });
  });
});

const Created = defineEvent({ type: "wd.item.created.v1", schema: z.object({ n: z.number() }) });

describe("event bus watchdog wiring", () => {
  it("exposes each consumer's health and lets a handler mark a duplicate it recognised", async () => {
    const transport = createMemoryTransport();
    const skipped: string[] = [];
    const bus = createEventBus({
      transport,
      service: "wd",
      env: "dev",
      registry: createEventRegistry().register(Created),
      watchdog: { stallAfterMs: 60_000 },
      observer: { skipped: (i) => void skipped.push(i.reason) },
    });
    onTestFinished(() => bus.close());
    const consumers: string[] = [];
    bus.handle({
      name: "projector",
      types: [Created],
      handler: (e, ctx) => {
        consumers.push(ctx.consumer);
        if ((e.data as { n: number }).n === 1) ctx.markDuplicate();
      },
    });
    expect(bus.health()).toEqual([]);
    await bus.start();
    await bus.publish(Created.create({ source: "wd", subject: `s-${uniqueId()}`, data: { n: 1 } }));
    await bus.publish(Created.create({ source: "wd", subject: `s-${uniqueId()}`, data: { n: 2 } }));
    await waitFor(() => consumers.length === 2);
    expect(consumers).toEqual(["wd-projector", "wd-projector"]);
    await waitFor(() => skipped.length === 1);
    expect(skipped).toEqual(["duplicate"]);
    expect(bus.health()).toEqual([
      expect.objectContaining({ consumer: "wd-projector", stream: "DEV_WD", state: "ok", delivered: 2 }),
    ]);
  });

  it("can be turned off", async () => {
    const bus = createEventBus({
      transport: createMemoryTransport(),
      service: "wd",
      env: "dev",
      registry: createEventRegistry().register(Created),
      watchdog: false,
    });
    onTestFinished(() => bus.close());
    bus.handle({ name: "projector", types: [Created], handler: () => {} });
    await bus.start();
    expect(bus.health()).toEqual([]);
  });
});
