import { describe, expect, it } from "vitest";
import { createMemoryEventStore } from "../store/memory/index.js";
import { runRelayConformance } from "../testing/relay-conformance.js";
import { createMemoryTransport } from "../transport/memory/index.js";
import { LagWindow, percentile } from "./lag.js";
import { createMemoryCheckpointStore, createMemoryLeaderLock, createMemoryLockTable } from "./memory.js";

runRelayConformance(
  "in-process store + in-process transport",
  {
    async setup() {
      const store = createMemoryEventStore();
      const transport = createMemoryTransport();
      const table = createMemoryLockTable();
      return {
        store,
        transport,
        checkpoints: createMemoryCheckpointStore(),
        lock: () => createMemoryLeaderLock({ table }),
        async cleanup() {
          await store.close();
          await transport.close();
        },
      };
    },
  },
  { listen: true },
);

describe("memory checkpoint store", () => {
  it("returns undefined for an unknown name and never moves a checkpoint backwards", async () => {
    const c = createMemoryCheckpointStore();
    expect(await c.load("r")).toBeUndefined();
    await c.save("r", { transactionId: 5n, position: 10n });
    await c.save("r", { transactionId: 5n, position: 9n });
    await c.save("r", { transactionId: 4n, position: 99n });
    expect(await c.load("r")).toEqual({ transactionId: 5n, position: 10n });
    await c.save("r", { transactionId: 6n, position: 1n });
    expect(await c.load("r")).toEqual({ transactionId: 6n, position: 1n });
    expect(await c.load("other")).toBeUndefined();
  });
});

describe("memory leader lock", () => {
  it("lets one lock of a table hold a name until it releases it", async () => {
    const table = createMemoryLockTable();
    const a = createMemoryLeaderLock({ table });
    const b = createMemoryLeaderLock({ table });
    expect(await a.acquire("relay")).toBe(true);
    expect(await a.acquire("relay")).toBe(true);
    expect(await b.acquire("relay")).toBe(false);
    expect([a.held, b.held]).toEqual([true, false]);
    expect(table.held).toEqual(["relay"]);
    await a.release();
    expect(a.held).toBe(false);
    expect(await b.acquire("relay")).toBe(true);
    await b.release();
    await b.release();
    expect(table.held).toEqual([]);
  });

  it("holds one name per lock", async () => {
    const lock = createMemoryLeaderLock();
    await lock.acquire("a");
    await expect(lock.acquire("b")).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });
});

describe("lag window", () => {
  it("summarizes the last samples with nearest-rank percentiles", () => {
    const w = new LagWindow(100);
    expect(w.summary()).toEqual({ count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, lastMs: 0 });
    for (let i = 1; i <= 150; i++) w.record(i);
    const s = w.summary();
    expect(s.count).toBe(100);
    expect(s.p50Ms).toBe(100);
    expect(s.p99Ms).toBe(149);
    expect(s.maxMs).toBe(150);
    expect(s.lastMs).toBe(150);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([7], 99)).toBe(7);
  });
});
