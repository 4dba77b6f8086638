import { createHash } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type DedupeStore, ErrorCode, SlotwiseError } from "@slotwise/events";
import { toSlotwiseError } from "../transport/errors.js";

/** The bucket a `createKvDedupeStore` uses unless told otherwise. */
export const DEFAULT_DEDUPE_BUCKET = "slotwise_dedupe";
/**
 * How long a handled event id is remembered: longer than any redelivery (max deliveries × the longest
 * backoff) and long enough that a dead letter replayed the next day is still recognised.
 */
export const DEFAULT_DEDUPE_TTL_MS = 24 * 60 * 60 * 1000;
/** A key token longer than this is hashed. */
export const MAX_PLAIN_KEY_TOKEN = 100;

const BUCKET_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const PLAIN_TOKEN = /^[A-Za-z0-9_-]+$/;
const EMPTY = new Uint8Array(0);

export interface KvDedupeStoreOptions {
  /** An open connection, e.g. `transport.connection`; the store never closes it. */
  connection: NatsConnection;
  /** Bucket name (`[A-Za-z0-9_-]`); created when missing. @default "slotwise_dedupe" */
  bucket?: string;
  /** How long an id is remembered: the bucket's `max_age`. An existing bucket is updated to it. @default 86400000 (a day) */
  ttlMs?: number;
  /** @default 1 */
  replicas?: number;
  /** "memory" forgets everything when the server restarts. @default "file" */
  storage?: "file" | "memory";
  /** Timeout of each KV request. @default 5000 */
  timeoutMs?: number;
}

/** A `DedupeStore` on a NATS KV bucket, so every instance of a service shares what was handled. */
export interface KvDedupeStore extends DedupeStore {
  readonly bucket: string;
  readonly ttlMs: number;
  /** Forgets one record (a replay that must run again). */
  forget(consumer: string, eventId: string): Promise<void>;
}

/**
 * One key token: kept as is when it is made of `[A-Za-z0-9_-]` and short (consumer names and UUIDs are);
 * anything else becomes `=` and the base64url SHA-256 of its UTF-8 bytes. Plain tokens never contain `=`,
 * so the two forms cannot collide; every byte of both is legal in a KV key.
 */
function keyToken(value: string): string {
  if (value.length <= MAX_PLAIN_KEY_TOKEN && PLAIN_TOKEN.test(value)) return value;
  return `=${createHash("sha256").update(value, "utf8").digest("base64url")}`;
}

/** The KV key of (consumer, event id): `{consumer}.{eventId}`, each token encoded by `keyToken`. */
export function dedupeKey(consumer: string, eventId: string): string {
  if (consumer.length === 0 || eventId.length === 0) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "consumer and event id must not be empty", {
      details: { consumer, eventId },
    });
  }
  return `${keyToken(consumer)}.${keyToken(eventId)}`;
}

function parse(options: KvDedupeStoreOptions) {
  const bucket = options.bucket ?? DEFAULT_DEDUPE_BUCKET;
  const ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
  const replicas = options.replicas ?? 1;
  const bad: string[] = [];
  if (!BUCKET_NAME.test(bucket)) bad.push(`bucket must match ${BUCKET_NAME}, got ${JSON.stringify(bucket)}`);
  if (!Number.isInteger(ttlMs) || ttlMs < 1000) bad.push(`ttlMs must be an integer ≥ 1000, got ${ttlMs}`);
  if (!Number.isInteger(replicas) || replicas < 1)
    bad.push(`replicas must be a positive integer, got ${replicas}`);
  if (bad.length > 0) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `invalid KV dedupe store options: ${bad.join("; ")}`, {
      details: { bucket, ttlMs, replicas },
    });
  }
  return {
    bucket,
    ttlMs,
    replicas,
    storage: options.storage ?? "file",
    timeoutMs: options.timeoutMs ?? 5000,
  };
}

/** Sets the bucket's max_age to `ttlMs` when an existing bucket was made with another TTL. */
async function alignTtl(connection: NatsConnection, kv: KV, ttlMs: number, timeoutMs: number): Promise<void> {
  const status = await kv.status();
  if (status.ttl === ttlMs) return;
  const jsm = await jetstreamManager(connection, { timeout: timeoutMs, checkAPI: false });
  const { name: _name, ...config } = status.streamInfo.config;
  const maxAge = ttlMs * 1_000_000;
  // The duplicate window may not exceed max_age.
  const duplicateWindow = Math.min(config.duplicate_window ?? maxAge, maxAge);
  await jsm.streams.update(status.streamInfo.config.name, {
    ...config,
    max_age: maxAge,
    duplicate_window: duplicateWindow,
  });
}

/**
 * Opens (creating or updating it) the KV bucket and returns a `DedupeStore` on it: `remember` puts an
 * empty value under `{consumer}.{eventId}`, the bucket's `max_age` forgets it after `ttlMs`, and `seen`
 * reads it. For handlers whose effects are not SQL writes (for those, `@slotwise/postgres`'s
 * `transactional` makes the effect exactly-once). A failure is a retryable `SlotwiseError` (UNAVAILABLE,
 * TIMEOUT), so the bus retries the delivery instead of guessing.
 *
 * ```ts
 * const dedupe = await createKvDedupeStore({ connection: transport.connection, ttlMs: 3_600_000 });
 * const bus = createEventBus({ transport, dedupe, ... });
 * ```
 */
export async function createKvDedupeStore(options: KvDedupeStoreOptions): Promise<KvDedupeStore> {
  const o = parse(options);
  const { connection } = options;
  let kv: KV;
  try {
    // A JetStream client of our own: the KV's reads and writes take its timeout (not the KV option's).
    kv = await new Kvm(jetstream(connection, { timeout: o.timeoutMs })).create(o.bucket, {
      ttl: o.ttlMs,
      history: 1,
      replicas: o.replicas,
      storage: o.storage,
      timeout: o.timeoutMs,
    });
    await alignTtl(connection, kv, o.ttlMs, o.timeoutMs);
  } catch (err) {
    throw toSlotwiseError(err, {
      operation: `open KV bucket ${o.bucket}`,
      fallback: ErrorCode.UNAVAILABLE,
      details: { bucket: o.bucket },
    });
  }
  const fail = (err: unknown, operation: string, consumer: string, eventId: string): never => {
    throw toSlotwiseError(err, {
      operation: `${operation} in KV bucket ${o.bucket}`,
      fallback: ErrorCode.UNAVAILABLE,
      details: { bucket: o.bucket, consumer, eventId },
    });
  };
  return {
    bucket: o.bucket,
    ttlMs: o.ttlMs,
    async seen(consumer, eventId) {
      const key = dedupeKey(consumer, eventId);
      try {
        const entry = await kv.get(key);
        return entry !== null && entry.operation === "PUT";
      } catch (err) {
        return fail(err, "read dedupe record", consumer, eventId);
      }
    },
    async remember(consumer, eventId) {
      const key = dedupeKey(consumer, eventId);
      try {
        await kv.put(key, EMPTY);
      } catch (err) {
        fail(err, "write dedupe record", consumer, eventId);
      }
    },
    async forget(consumer, eventId) {
      const key = dedupeKey(consumer, eventId);
      try {
        await kv.purge(key);
      } catch (err) {
        fail(err, "purge dedupe record", consumer, eventId);
      }
    },
    // The connection belongs to the caller (usually the transport, which the bus closes after this).
    async close() {},
  };
}
