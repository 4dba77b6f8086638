/**
 * A set of (tag, UUID) pairs in one typed array: open addressing with linear probing, no per-entry object.
 *
 * The memory dedupe store keeps up to 100,000 event ids by default, and nearly every id is a UUID
 * (`createEvent` makes them with `randomUUID`). As strings in a `Set` each one is a heap object that
 * survives to the old generation, is copied once by the scavenger and marked by every major GC, and each
 * lookup chases pointers into it. Here an id is four 32-bit words beside a tag (the consumer's number), so
 * a probe reads one short run of memory and the garbage collector never sees the entries.
 *
 * Entries are never removed one by one: the owner clears the whole table (`clear`), which is how the
 * dedupe store retires a generation.
 */

/** Words per slot: the tag (consumer number + 1; 0 marks a free slot), then the UUID's four words. */
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

export class UuidTable {
  /** Allocated on the first `add`: a store whose consumers never dedupe costs nothing. */
  #slots = new Int32Array(0);
  readonly #mask: number;
  #size = 0;

  /** Room for `capacity` entries at a load of at most one half. */
  constructor(capacity: number) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.#mask = slots - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** Whether (tag, the UUID last parsed by `parseUuid`) is in the table. */
  has(tag: number): boolean {
    return this.#size > 0 && this.#find(tag + 1) >= 0;
  }

  /** Adds (tag, the UUID last parsed); false when it was there already or the table is full. */
  add(tag: number): boolean {
    const t = tag + 1;
    if (this.#slots.length === 0) this.#slots = new Int32Array((this.#mask + 1) * STRIDE);
    const at = this.#find(t);
    if (at >= 0 || this.#size * 2 >= this.#mask + 1) return false;
    const slots = this.#slots;
    const i = ~at;
    slots[i] = t;
    slots[i + 1] = words[0]!;
    slots[i + 2] = words[1]!;
    slots[i + 3] = words[2]!;
    slots[i + 4] = words[3]!;
    this.#size++;
    return true;
  }

  clear(): void {
    if (this.#size === 0) return;
    this.#slots.fill(0);
    this.#size = 0;
  }

  /** The entry's word index if present, else the bitwise NOT of the free slot where it would go. */
  #find(t: number): number {
    const slots = this.#slots;
    const w0 = words[0]!;
    const w1 = words[1]!;
    const w2 = words[2]!;
    const w3 = words[3]!;
    // Random UUIDs are random in every word but the version nibble; mix them all anyway, as other
    // versions (time-ordered v7, say) share their leading words.
    let h = Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca77) ^ w3 ^ t, 0xc2b2ae3d);
    h ^= h >>> 16;
    for (let slot = h & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const i = slot * STRIDE;
      const tag = slots[i];
      if (tag === 0) return ~i;
      if (
        tag === t &&
        slots[i + 1] === w0 &&
        slots[i + 2] === w1 &&
        slots[i + 3] === w2 &&
        slots[i + 4] === w3
      ) {
        return i;
      }
    }
  }
}
