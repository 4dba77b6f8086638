import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_UUID_TABLE_CAPACITY, parseUuid, UuidTable } from "./uuid-table.js";

const has = (t: UuidTable, tag: number, id: string) => parseUuid(id) && t.has(tag);
const add = (t: UuidTable, tag: number, id: string) => parseUuid(id) && t.add(tag);

describe("UuidTable", () => {
  it("holds exactly what was added, per tag, up to its capacity", () => {
    const capacity = 50_000; // its index then has 16-bit fingerprints: thousands of them collide
    const t = new UuidTable(capacity);
    const ids = Array.from({ length: capacity }, () => randomUUID());
    // Counted, not asserted one by one (50,000 expects would take seconds).
    let added = 0;
    for (let i = 0; i < capacity; i++) if (add(t, i % 3, ids[i]!)) added++;
    expect(added).toBe(capacity);
    let found = 0;
    let otherTag = 0;
    let again = 0;
    for (let i = 0; i < capacity; i++) {
      if (has(t, i % 3, ids[i]!)) found++;
      if (has(t, (i + 1) % 3, ids[i]!)) otherTag++;
      if (add(t, i % 3, ids[i]!)) again++;
    }
    expect({ found, otherTag, again }).toEqual({ found: capacity, otherTag: 0, again: 0 });
    let strangers = 0;
    for (let i = 0; i < capacity; i++) if (has(t, 0, randomUUID())) strangers++;
    expect(strangers).toBe(0);
    // full: nothing more goes in
    expect(add(t, 0, randomUUID())).toBe(false);
    t.clear();
    expect(has(t, 0, ids[0]!)).toBe(false);
    expect(add(t, 0, ids[0]!)).toBe(true);
    expect(has(t, 0, ids[0]!)).toBe(true);
  });

  it("reads UUIDs in either case as one id, and refuses what is not one", () => {
    const t = new UuidTable(4);
    const id = randomUUID();
    expect(add(t, 0, id)).toBe(true);
    expect(has(t, 0, id.toUpperCase())).toBe(true);
    for (const s of ["", "x", `${id}0`, id.replace(/-/g, ""), `g${id.slice(1)}`])
      expect(parseUuid(s)).toBe(false);
  });

  it("takes capacities from 1 to its maximum, at every entry-number width", () => {
    for (const capacity of [1, 2, 3, 255, 256, 65_535, 65_536]) {
      const t = new UuidTable(capacity);
      const ids = Array.from({ length: capacity }, () => randomUUID());
      expect(ids.filter((id) => add(t, 7, id))).toHaveLength(capacity);
      expect(ids.filter((id) => has(t, 7, id))).toHaveLength(capacity);
      expect(add(t, 7, randomUUID())).toBe(false);
    }
    expect(() => new UuidTable(0)).toThrow(RangeError);
    expect(() => new UuidTable(MAX_UUID_TABLE_CAPACITY + 1)).toThrow(RangeError);
  });
});
