/**
 * A stream of the in-process broker: sequences, timestamps, the duplicate window by msgId, maxMsgSize and
 * maxAge, and its durable consumers.
 */
import { ErrorCode, SlotwiseError } from "../../errors/errors.js";
import type { Headers, PublishAck, StreamConfig, StreamInfo } from "../transport.js";
import type { ConsumerSource, MemoryConsumer, StoredRecord } from "./consumer.js";
import { SeqLog } from "./seq-log.js";
import { isValidSubject, type Pattern, tokenize } from "./subject.js";

/** JetStream's defaults for a stream's options. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
export const DEFAULT_REPLICAS = 1;
export const DEFAULT_MAX_AGE_MS = 0;
export const DEFAULT_MAX_MSG_SIZE = -1;
export const DEFAULT_STORAGE = "file";

export type ResolvedStreamConfig = Required<StreamConfig>;

export function resolveStreamConfig(config: StreamConfig): ResolvedStreamConfig {
  const resolved: ResolvedStreamConfig = {
    name: config.name,
    subjects: [...config.subjects],
    replicas: config.replicas ?? DEFAULT_REPLICAS,
    duplicateWindowMs: config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS,
    maxAgeMs: config.maxAgeMs ?? DEFAULT_MAX_AGE_MS,
    storage: config.storage ?? DEFAULT_STORAGE,
    maxMsgSize: config.maxMsgSize ?? DEFAULT_MAX_MSG_SIZE,
  };
  const invalid = (field: string, message: string) =>
    new SlotwiseError(ErrorCode.INVALID_OPTIONS, `stream ${config.name}: ${message}`, {
      details: { field, stream: config.name },
    });
  if (!/^[^.*>\s]+$/.test(resolved.name))
    throw invalid("name", "a stream name may not contain . * > or spaces");
  if (resolved.subjects.length === 0) throw invalid("subjects", "at least one subject is required");
  for (const s of resolved.subjects) {
    if (!isValidSubject(s, true)) throw invalid("subjects", `invalid subject "${s}"`);
  }
  if (!(resolved.duplicateWindowMs >= 0)) throw invalid("duplicateWindowMs", "must be >= 0");
  if (!(resolved.maxAgeMs >= 0)) throw invalid("maxAgeMs", "must be >= 0");
  if (resolved.maxAgeMs > 0 && resolved.duplicateWindowMs > resolved.maxAgeMs) {
    // JetStream refuses this too: the window cannot outlive the messages it protects.
    throw invalid("duplicateWindowMs", "the duplicate window may not exceed maxAgeMs");
  }
  if (!(resolved.replicas >= 1)) throw invalid("replicas", "must be >= 1");
  if (resolved.maxMsgSize === 0 || resolved.maxMsgSize < -1) throw invalid("maxMsgSize", "must be -1 or > 0");
  return resolved;
}

/** Bytes a message occupies on the wire: payload plus its header block. */
export function messageSize(data: Uint8Array, headers: Headers): number {
  let size = data.byteLength;
  const keys = Object.keys(headers);
  if (keys.length > 0) {
    size += 12; // "NATS/1.0\r\n" and the closing "\r\n"
    for (const k of keys) size += Buffer.byteLength(k) + Buffer.byteLength(headers[k] ?? "") + 4;
  }
  return size;
}

export class MemoryStream implements ConsumerSource {
  config: ResolvedStreamConfig;
  patterns: Pattern[];
  readonly log = new SeqLog<StoredRecord>();
  readonly consumers = new Map<string, MemoryConsumer>();
  /** msgId → when it was stored and at which sequence; insertion order is time order. */
  private readonly dedupe = new Map<string, { seq: number; at: number }>();
  private lastTime = 0;
  private ageTimer: NodeJS.Timeout | undefined;

  constructor(config: ResolvedStreamConfig) {
    this.config = config;
    this.patterns = config.subjects.map(tokenize);
  }

  get name(): string {
    return this.config.name;
  }

  lastSeq(): number {
    return this.log.nextSeq - 1;
  }

  update(config: ResolvedStreamConfig): void {
    if (config.storage !== this.config.storage) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `stream ${config.name}: storage cannot change`, {
        details: { field: "storage", stream: config.name },
      });
    }
    this.config = config;
    this.patterns = config.subjects.map(tokenize);
    this.expire();
    this.scheduleExpiry();
  }

  info(): StreamInfo {
    this.expire();
    const last = this.lastSeq();
    return {
      name: this.config.name,
      subjects: [...this.config.subjects],
      messages: this.log.size,
      // As JetStream reports an empty stream: first = last + 1, or 0 when nothing was ever stored.
      firstSeq: this.log.firstSeq() ?? (last === 0 ? 0 : last + 1),
      lastSeq: last,
      replicas: this.config.replicas,
      duplicateWindowMs: this.config.duplicateWindowMs,
    };
  }

  /** Stores the message, or reports the duplicate. Size limits are checked by the caller. */
  append(subject: string, data: Uint8Array, headers: Headers, msgId: string | undefined): PublishAck {
    const now = Date.now();
    this.expire(now);
    if (msgId !== undefined) {
      this.pruneDedupe(now);
      const seen = this.dedupe.get(msgId);
      if (seen) return { stream: this.config.name, seq: seen.seq, duplicate: true };
    }
    // Timestamps never go backwards, so age expiry and startTime lookups can rely on sequence order.
    const time = Math.max(now, this.lastTime);
    this.lastTime = time;
    const seq = this.log.nextSeq;
    const record: StoredRecord = { subject, data, headers, seq, time };
    this.log.append(record);
    if (msgId !== undefined && this.config.duplicateWindowMs > 0) this.dedupe.set(msgId, { seq, at: now });
    for (const consumer of this.consumers.values()) consumer.onAppended(record);
    if (this.ageTimer === undefined) this.scheduleExpiry();
    return { stream: this.config.name, seq, duplicate: false };
  }

  get(seq: number): StoredRecord | undefined {
    this.expire();
    return this.log.get(seq);
  }

  remove(seq: number): boolean {
    this.expire();
    const record = this.log.delete(seq);
    if (!record) return false;
    for (const consumer of this.consumers.values()) consumer.onRemoved(record);
    return true;
  }

  seqAtOrAfter(time: number): number {
    // Binary search over sequences; holes left by deletes are skipped forwards.
    let lo = this.log.firstSeq() ?? this.lastSeq() + 1;
    let hi = this.lastSeq() + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      let probe = mid;
      let record = this.log.get(probe);
      while (!record && probe < hi) record = this.log.get(++probe);
      if (!record || record.time >= time) hi = mid;
      else lo = probe + 1;
    }
    return lo;
  }

  /** Drops messages older than maxAge. */
  expire(now = Date.now()): void {
    const { maxAgeMs } = this.config;
    if (maxAgeMs <= 0) return;
    const limit = now - maxAgeMs;
    for (let first = this.log.first(); first && first.time <= limit; first = this.log.first()) {
      this.log.delete(first.seq);
      for (const consumer of this.consumers.values()) consumer.onRemoved(first);
    }
  }

  dispose(): void {
    clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    for (const consumer of this.consumers.values()) consumer.dispose();
    this.consumers.clear();
  }

  private pruneDedupe(now: number): void {
    const limit = now - this.config.duplicateWindowMs;
    for (const [id, entry] of this.dedupe) {
      if (entry.at > limit) break;
      this.dedupe.delete(id);
    }
  }

  /** One unref'd timer per stream, set for the oldest message's expiry. */
  private scheduleExpiry(): void {
    clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    const first = this.log.first();
    if (this.config.maxAgeMs <= 0 || !first) return;
    const delay = Math.max(0, first.time + this.config.maxAgeMs - Date.now() + 1);
    this.ageTimer = setTimeout(() => {
      this.ageTimer = undefined;
      this.expire();
      this.scheduleExpiry();
    }, delay);
    this.ageTimer.unref();
  }
}
