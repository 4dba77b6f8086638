/**
 * A set of (tag, UUID) pairs in typed arrays: an open-addressing index (linear probing) over dense
 * entries, no per-entry object.
 *
 * The memory dedupe store keeps up to 100,000 event ids by default, and nearly every id is a UUID
 * (`createEvent` makes them with `randomUUID`). As strings in a `Set` each one is a heap object that
 * survives to the old generation, is copied once by the scavenger and marked by every major GC, and each
 * lookup chases pointers into it. Here an id is four 32-bit words beside a tag (the consumer's number),
 * the garbage collector never sees the entries, and a lookup reads a small index (see `UuidTable`).
 *
 * Entries are never removed one by one: the owner clears the whole table (`clear`), which is how the
 * dedupe store retires a generation.
 */

/** Words per entry: the tag (consumer number + 1), then the UUID's four words. */
const STRIDE = 5;

/** Hex digit values by char code; -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[97 + i] = 10 + i; // a–f
  HEX[65 + i] = 10 + i; // A–F
}

/** The four words of the last id parsed; `parseUuid` writes them, the table reads them. */
const words = new Int32Array(4);
/** The UUID whose words `words` holds ("" when none). */
let lastParsed = "";

/** Eight hex digits of `s` from `at` as one word (past the dash after four when `skipDash`), NaN if one is not hex. */
function hexWord(s: string, at: number, skipDash: boolean): number {
  let w = 0;
  let bad = 0;
  for (let i = 0; i < 8; i++) {
    // Past a dash at position at+4 when asked (the 4-4 groups of a UUID).
    const pos = skipDash && i >= 4 ? at + i + 1 : at + i;
    const c = s.charCodeAt(pos);
    const v = c < 128 ? HEX[c]! : -1;
    bad |= v;
    w = (w << 4) | (v & 15);
  }
  return bad < 0 ? Number.NaN : w;
}

/**
 * Parses a canonical UUID (`8-4-4-4-12` hex digits, either case) into `words`. False for any other
 * string, which the caller then keeps as a string. Case is folded: `A` and `a` are the same id here, and
 * the dedupe store keys non-UUIDs by the exact string, so two ids differing only in case of hex digits
 * count as one. UUIDs are case-insensitive by RFC 9562, so that is the right reading of them.
 */
export function parseUuid(s: string): boolean {
  // `remember` follows `seen` of the same id: the words are still those of the last parse.
  if (s === lastParsed) return true;
  if (
    s.length !== 36 ||
    s.charCodeAt(8) !== 45 ||
    s.charCodeAt(13) !== 45 ||
    s.charCodeAt(18) !== 45 ||
    s.charCodeAt(23) !== 45
  ) {
    return false;
  }
  const w0 = hexWord(s, 0, false); // 8 digits
  const w1 = hexWord(s, 9, true); // 4 + 4 digits around the dash at 13
  const w2 = hexWord(s, 19, true); // 4 + 4 digits around the dash at 23
  const w3 = hexWord(s, 28, false); // the last 8 digits
  if (Number.isNaN(w0) || Number.isNaN(w1) || Number.isNaN(w2) || Number.isNaN(w3)) return false;
  words[0] = w0;
  words[1] = w1;
  words[2] = w2;
  words[3] = w3;
  lastParsed = s;
  return true;
}

/** Entries a table can hold: an entry's number and at least 8 fingerprint bits share a 32-bit slot. */
export const MAX_UUID_TABLE_CAPACITY = 2 ** 24 - 1;

export class UuidTable {
  /**
   * The index, one 32-bit word a slot (0: free): the high bits a fingerprint of the entry's hash, the low
   * `#refBits` the entry's number + 1. A lookup of a new id (the common case) reads one slot word, and
   * its add writes that same cache line; `#entries` is read only when a fingerprint matches. For the
   * default 50,000 entries a generation the index is 512 KiB. (Fingerprints and entry numbers in two
   * arrays cost a second cache miss on every add, and the dedupe store adds every new id.) Allocated on
   * the first `add`: a store that never dedupes costs nothing.
   */
  #slots = new Int32Array(0);
  /** Entries in insertion order, `STRIDE` words each. */
  #entries = new Int32Array(0);
  readonly #mask: number;
  readonly #capacity: number;
  readonly #refBits: number;
  readonly #refMask: number;
  #size = 0;

  /** Room for `capacity` entries (at most `MAX_UUID_TABLE_CAPACITY`), the index at a load of at most one half. */
  constructor(capacity: number) {
    if (!(capacity >= 1 && capacity <= MAX_UUID_TABLE_CAPACITY)) {
      throw new RangeError(`a UUID table holds 1 to ${MAX_UUID_TABLE_CAPACITY} entries, not ${capacity}`);
    }
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.#mask = slots - 1;
    this.#capacity = capacity;
    // Entry numbers + 1 run from 1 to capacity: never 0, so a used slot is never 0.
    this.#refBits = 32 - Math.clz32(capacity);
    this.#refMask = 2 ** this.#refBits - 1;
  }

  /** Whether (tag, the UUID last parsed by `parseUuid`) is in the table. */
  has(tag: number): boolean {
    const t = tag + 1;
    return this.#size > 0 && this.#find(t, hash(t)) >= 0;
  }

  /** Adds (tag, the UUID last parsed); false when it was there already or the table is full. */
  add(tag: number): boolean {
    const t = tag + 1;
    if (this.#size >= this.#capacity) return false;
    if (this.#slots.length === 0) {
      this.#slots = new Int32Array(this.#mask + 1);
      this.#entries = new Int32Array(this.#capacity * STRIDE);
    }
    const h = hash(t);
    const at = this.#find(t, h);
    if (at >= 0) return false;
    const e = this.#size * STRIDE;
    const entries = this.#entries;
    entries[e] = t;
    entries[e + 1] = words[0]!;
    entries[e + 2] = words[1]!;
    entries[e + 3] = words[2]!;
    entries[e + 4] = words[3]!;
    this.#size++;
    this.#slots[~at] = (h >>> this.#refBits) * (this.#refMask + 1) + this.#size;
    return true;
  }

  clear(): void {
    if (this.#size === 0) return;
    this.#slots.fill(0);
    this.#size = 0;
  }

  /** The slot of (t, the last parsed UUID), whose hash is `h`, if present; else the bitwise NOT of the free slot where it would go. */
  #find(t: number, h: number): number {
    const slots = this.#slots;
    const entries = this.#entries;
    const refBits = this.#refBits;
    const refMask = this.#refMask;
    const f = h >>> refBits;
    const mask = this.#mask;
    // The start slot from the hash's low bits, the fingerprint from its high ones.
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const g = slots[slot]!;
      if (g === 0) return ~slot;
      if (g >>> refBits === f) {
        const e = ((g & refMask) - 1) * STRIDE;
        if (
          entries[e] === t &&
          entries[e + 1] === words[0] &&
          entries[e + 2] === words[1] &&
          entries[e + 3] === words[2] &&
          entries[e + 4] === words[3]
        ) {
          return slot;
        }
      }
    }
  }
}

/**
 * A 32-bit hash of (tag, the last parsed UUID), unsigned. Random UUIDs are random in every word but the
 * version nibble; all words are mixed anyway, as other versions (time-ordered v7, say) share their
 * leading words.
 */
function hash(t: number): number {
  let h = Math.imul(
    words[0]! ^ Math.imul(words[1]!, 0x9e3779b1) ^ Math.imul(words[2]!, 0x85ebca77) ^ words[3]! ^ t,
    0xc2b2ae3d,
  );
  h ^= h >>> 16;
  return h >>> 0;
}
