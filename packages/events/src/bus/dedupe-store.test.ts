import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryDedupeStore } from "./dedupe-store.js";

type Store = ReturnType<typeof createMemoryDedupeStore>;
const remembered = (store: Store, consumer: string, ids: string[]) =>
  ids.filter((id) => store.seen(consumer, id));
const ids = (n: number, prefix = "e") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Remembers `all` (some twice) for two consumers in turn, then checks what a 1,000-entry store kept. */
function expectNewestKept(all: string[]): void {
  const max = 1_000;
  const store = createMemoryDedupeStore({ maxEntries: max });
  const consumer = (i: number) => (i % 2 === 0 ? "a" : "b");
  for (const [i, id] of all.entries()) {
    store.remember(consumer(i), id);
    // repeats do not count twice
    if (i % 3 === 0) store.remember(consumer(i), id);
  }
  const kept = all.filter((id, i) => store.seen(consumer(i), id));
  expect(kept.length).toBeGreaterThanOrEqual(max / 2);
  expect(kept.length).toBeLessThanOrEqual(max);
  // what is kept is the newest
  expect(kept).toEqual(all.slice(-kept.length));
}

describe("createMemoryDedupeStore", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("remembers ids per consumer", () => {
    const store = createMemoryDedupeStore();
    expect(store.seen("a", "e1")).toBe(false);
    store.remember("a", "e1");
    expect(store.seen("a", "e1")).toBe(true);
    expect(store.seen("b", "e1")).toBe(false);
    expect(store.seen("a", "e2")).toBe(false);
  });

  it("keeps at least the newest maxEntries/2 ids and never more than maxEntries", () => {
    expectNewestKept(ids(20_000));
  });

  it("remembers an id for at least its TTL, forgets it within twice that", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const store = createMemoryDedupeStore({ ttlMs: 60_000 });
    store.remember("a", "e1");
    vi.setSystemTime(1_030_000);
    store.remember("a", "e2");
    vi.setSystemTime(1_060_000);
    expect(remembered(store, "a", ["e1", "e2"])).toEqual(["e1", "e2"]);
    vi.setSystemTime(1_119_999);
    expect(remembered(store, "a", ["e1", "e2"])).toEqual(["e1", "e2"]);
    vi.setSystemTime(1_120_001);
    expect(remembered(store, "a", ["e1", "e2"])).toEqual([]);
    store.remember("a", "e1");
    expect(store.seen("a", "e1")).toBe(true);
  });

  it("forgets everything after a long idle time", () => {
    vi.useFakeTimers({ now: 0 });
    const store = createMemoryDedupeStore({ ttlMs: 1_000 });
    store.remember("a", "e1");
    vi.setSystemTime(5_000);
    expect(store.seen("a", "e1")).toBe(false);
  });

  it("refuses options it cannot keep", () => {
    expect(() => createMemoryDedupeStore({ maxEntries: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
    expect(() => createMemoryDedupeStore({ ttlMs: 0 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
    expect(() => createMemoryDedupeStore({ maxEntries: 2 ** 26 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
  });
});

describe("createMemoryDedupeStore with UUID ids", () => {
  const uuid = () => randomUUID();

  it("remembers UUIDs per consumer, in either case, apart from other ids", () => {
    const store = createMemoryDedupeStore();
    const id = uuid();
    expect(store.seen("a", id)).toBe(false);
    store.remember("a", id);
    expect(store.seen("a", id)).toBe(true);
    expect(store.seen("a", id.toUpperCase())).toBe(true);
    expect(store.seen("b", id)).toBe(false);
    expect(store.seen("a", uuid())).toBe(false);
    // One hex digit off, or the same digits without the canonical dashes: other ids.
    const last = id.at(-1) === "0" ? "1" : "0";
    expect(store.seen("a", id.slice(0, -1) + last)).toBe(false);
    expect(store.seen("a", id.replaceAll("-", ""))).toBe(false);
    expect(store.seen("a", `${id.slice(0, 35)}g`)).toBe(false);
  });

  it("keeps the newest maxEntries/2 to maxEntries ids, UUIDs and others counted together", () => {
    expectNewestKept(Array.from({ length: 20_000 }, (_, i) => (i % 5 === 0 ? `e${i}` : uuid())));
  });

  it("forgets UUIDs after their time, then remembers them again", () => {
    vi.useFakeTimers({ now: 0 });
    const store = createMemoryDedupeStore({ ttlMs: 1_000 });
    const id = uuid();
    store.remember("a", id);
    vi.setSystemTime(1_500);
    expect(store.seen("a", id)).toBe(true);
    vi.setSystemTime(2_500);
    expect(store.seen("a", id)).toBe(false);
    store.remember("a", id);
    expect(store.seen("a", id)).toBe(true);
    vi.useRealTimers();
  });
});
