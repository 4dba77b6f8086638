import { type CloudEvent, parseEventType } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import type { StoredEvent } from "./event-store.js";

/**
 * Schema evolution on read: an upcaster turns a stored event of an old type or schema version into the next
 * one, so aggregates and projections only ever see the current shape. Upcasters chain: with v1→v2 and
 * v2→v3 registered, a stored v1 event reads back as v3. The stored bytes never change.
 *
 * ```ts
 * const upcasters = [{
 *   fromType: "booking.appointment.created.v1", toType: "booking.appointment.created.v2", toVersion: "2.0",
 *   upcast: (data: V1) => ({ ...data, channel: "web" }),
 * }];
 * createMemoryEventStore({ upcasters });
 * ```
 */
export interface Upcaster<From = unknown, To = unknown> {
  /** The stored event type, e.g. `booking.appointment.created.v1`. */
  fromType: string;
  /** Only events of `fromType` with this schema version (`MAJOR.MINOR`). @default every version of `fromType` */
  fromVersion?: string;
  /** The type after upcasting (may equal `fromType` for a MINOR change). */
  toType: string;
  /** The schema version after upcasting, `MAJOR.MINOR`; MAJOR must equal the `vN` of `toType`. */
  toVersion: string;
  /** The new `data`; must not mutate its input. Every other attribute is kept. */
  upcast(data: From, event: CloudEvent<From>): To;
}

/** Upcasters indexed once, at store construction. */
export interface UpcasterChain {
  /** How many upcasters the chain holds; 0 means reads are returned untouched. */
  readonly size: number;
  /** The event at its current type and version; the same object when no upcaster applies. */
  upcast(event: CloudEvent): CloudEvent;
  /** `upcast` on a stored event, keeping its stream version, position and transaction. */
  upcastStored(stored: StoredEvent): StoredEvent;
}

const VERSION = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;

function invalid(message: string, details: Record<string, unknown>): SlotwiseError {
  return new SlotwiseError(ErrorCode.INVALID_OPTIONS, message, { details });
}

function keyOf(type: string, version: string | undefined): string {
  return version === undefined ? type : `${type}@${version}`;
}

/**
 * Validates and indexes upcasters. Fails with INVALID_OPTIONS on a malformed type or version, two upcasters
 * for the same type and version, or a cycle (which would upcast forever).
 */
export function createUpcasterChain(upcasters: readonly Upcaster[] = []): UpcasterChain {
  // Exact (type@version) entries win over an entry for every version of the type.
  const index = new Map<string, Upcaster>();
  for (const u of upcasters) {
    const details = { fromType: u.fromType, fromVersion: u.fromVersion, toType: u.toType };
    parseEventType(u.fromType);
    const { major } = parseEventType(u.toType);
    const m = VERSION.exec(u.toVersion);
    if (!m || Number(m[1]) !== major) {
      throw invalid(`upcaster toVersion "${u.toVersion}" must be MAJOR.MINOR with MAJOR ${major}`, details);
    }
    if (u.fromVersion !== undefined && !VERSION.test(u.fromVersion)) {
      throw invalid(`upcaster fromVersion "${u.fromVersion}" must be MAJOR.MINOR`, details);
    }
    if (u.fromType === u.toType && u.fromVersion === u.toVersion) {
      throw invalid(`upcaster from ${u.fromType}@${u.toVersion} to itself`, details);
    }
    const key = keyOf(u.fromType, u.fromVersion);
    if (index.has(key)) throw invalid(`two upcasters for ${key}`, details);
    index.set(key, u);
  }

  const find = (type: string, version: string): Upcaster | undefined =>
    index.get(keyOf(type, version)) ?? index.get(type);

  // Cycle check: from every upcaster's output, the chain must end within `size` steps.
  for (const u of index.values()) {
    let type = u.toType;
    let version = u.toVersion;
    for (let steps = 0; ; steps++) {
      const next = find(type, version);
      if (next === undefined) break;
      if (steps >= index.size) {
        throw invalid(`upcasters form a cycle through ${u.fromType}`, { fromType: u.fromType });
      }
      type = next.toType;
      version = next.toVersion;
    }
  }

  function upcast(event: CloudEvent): CloudEvent {
    if (index.size === 0) return event;
    let current = event;
    for (
      let u = find(current.type, current.version);
      u !== undefined;
      u = find(current.type, current.version)
    ) {
      current = { ...current, type: u.toType, version: u.toVersion, data: u.upcast(current.data, current) };
    }
    return current;
  }

  return {
    size: index.size,
    upcast,
    upcastStored(stored) {
      if (index.size === 0) return stored;
      const event = upcast(stored.event);
      return event === stored.event ? stored : { ...stored, event };
    },
  };
}
