import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryDedupeStore } from "./dedupe-store.js";

const remembered = (store: ReturnType<typeof createMemoryDedupeStore>, consumer: string, ids: string[]) =>
  ids.filter((id) => store.seen(consumer, id) === true);

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

  it("forgets the oldest id of the whole store first, across consumers", () => {
    const store = createMemoryDedupeStore({ maxEntries: 3 });
    store.remember("a", "e1");
    store.remember("b", "e2");
    store.remember("a", "e3");
    store.remember("b", "e4");
    expect(store.seen("a", "e1")).toBe(false);
    expect(store.seen("b", "e2")).toBe(true);
    expect(store.seen("a", "e3")).toBe(true);
    expect(store.seen("b", "e4")).toBe(true);
    store.remember("a", "e5");
    expect(store.seen("b", "e2")).toBe(false);
    expect(remembered(store, "a", ["e1", "e3", "e5"])).toEqual(["e3", "e5"]);
  });

  it("moves a re-remembered id to the back", () => {
    const store = createMemoryDedupeStore({ maxEntries: 3 });
    for (const id of ["e1", "e2", "e3"]) store.remember("a", id);
    store.remember("a", "e1");
    store.remember("a", "e4");
    expect(remembered(store, "a", ["e1", "e2", "e3", "e4"])).toEqual(["e1", "e3", "e4"]);
  });

  it("keeps exactly the newest maxEntries ids through a long run with repeats", () => {
    const max = 1_000;
    const store = createMemoryDedupeStore({ maxEntries: max });
    const ids = Array.from({ length: 20_000 }, (_, i) => `e${i}`);
    ids.forEach((id, i) => {
      store.remember("a", id);
      // Every third id is remembered twice, leaving a stale slot behind.
      if (i % 3 === 0) store.remember("a", id);
    });
    expect(remembered(store, "a", ids)).toEqual(ids.slice(-max));
  });

  it("stays correct when one id is remembered over and over (stale slots pile up)", () => {
    const store = createMemoryDedupeStore({ maxEntries: 10 });
    for (let i = 0; i < 10_000; i++) store.remember("a", "same");
    for (let i = 0; i < 9; i++) store.remember("a", `e${i}`);
    expect(store.seen("a", "same")).toBe(true);
    store.remember("a", "e9");
    expect(store.seen("a", "same")).toBe(false);
    expect(
      remembered(
        store,
        "a",
        Array.from({ length: 10 }, (_, i) => `e${i}`),
      ),
    ).toHaveLength(10);
  });

  it("forgets an id once its TTL passed, and can remember it again", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const store = createMemoryDedupeStore({ ttlMs: 60_000 });
    store.remember("a", "e1");
    vi.setSystemTime(1_060_000);
    expect(store.seen("a", "e1")).toBe(true);
    vi.setSystemTime(1_060_001);
    expect(store.seen("a", "e1")).toBe(false);
    store.remember("a", "e1");
    expect(store.seen("a", "e1")).toBe(true);
    vi.setSystemTime(1_200_000);
    // Expired entries at the front are dropped by the next remember as well.
    store.remember("a", "e2");
    expect(store.seen("a", "e1")).toBe(false);
    expect(store.seen("a", "e2")).toBe(true);
  });
});
