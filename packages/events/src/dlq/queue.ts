/**
 * The dead-letter queue of one environment, over the Transport port: list, show, replay. What the CLI's
 * `slotwise dlq` and the console use; the bus only writes dead letters (`publishDeadLetter`).
 */
import { assertEnvironment, dlqStreamNameFor } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import type { PublishAck, Transport } from "../transport/index.js";
import { type DeadLetter, originalHeaders, toDeadLetter } from "./dead-letter.js";

export const DEFAULT_DLQ_LIST_LIMIT = 100;
/** Dead letters read per page by `replayAll` (memory stays bounded on a large DLQ). */
const REPLAY_PAGE = 100;

/** Which dead letters a list or a replay takes; every given field must match. */
export interface DeadLetterFilter {
  /** Error code, exactly (`SCHEMA_VIOLATION`, `MAX_DELIVERIES`, …). */
  code?: string;
  /** Consumer (durable) name, exactly. */
  consumer?: string;
  /** Event type, exactly: the original subject without its `{env}.`. */
  type?: string;
  /** A substring of the original subject. */
  subject?: string;
}

export interface DeadLetterListOptions {
  /** At most this many, oldest first. @default 100 */
  limit?: number;
  filter?: DeadLetterFilter;
  /** Start at this DLQ sequence (paging: the last seen seq + 1). @default the first */
  fromSeq?: number;
}

export interface ReplayResult {
  /** Sequence the dead letter had in the DLQ stream (it is deleted now). */
  seq: number;
  /** Where the original bytes went again. */
  subject: string;
  /** The msg id of the re-publication: `replay:{DLQ stream}:{seq}`. */
  msgId: string;
  /** The stream's acknowledgement; `duplicate` when this dead letter was replayed already in the window. */
  ack: PublishAck;
  deadLetter: DeadLetter;
}

export interface DeadLetterQueue {
  /** `{ENV}_DLQ`. */
  readonly stream: string;
  /** Dead letters, oldest first; an empty list when the stream does not exist. */
  list(options?: DeadLetterListOptions): Promise<DeadLetter[]>;
  /** One dead letter by its DLQ sequence, or undefined. */
  show(seq: number): Promise<DeadLetter | undefined>;
  /**
   * Republishes the original bytes and headers to the original subject, then deletes the dead letter.
   * Undefined when there is no such dead letter (already replayed, say): replaying twice has one effect.
   */
  replay(seq: number): Promise<ReplayResult | undefined>;
  /** Replays every dead letter matching the filter, oldest first. */
  replayAll(filter?: DeadLetterFilter): Promise<ReplayResult[]>;
}

export interface DeadLetterQueueOptions {
  transport: Transport;
  /** The environment whose `{ENV}_DLQ` this is. */
  env: string;
}

/** Msg id of a replay: a second replay of the same dead letter inside the duplicate window is dropped. */
export function replayMsgId(dlqStream: string, seq: number): string {
  return `replay:${dlqStream}:${seq}`;
}

export function matchesFilter(dl: DeadLetter, filter: DeadLetterFilter = {}): boolean {
  if (filter.code !== undefined && dl.code !== filter.code) return false;
  if (filter.consumer !== undefined && dl.consumer !== filter.consumer) return false;
  if (filter.type !== undefined) {
    const dot = dl.originalSubject.indexOf(".");
    if (dl.originalSubject.slice(dot + 1) !== filter.type) return false;
  }
  if (filter.subject !== undefined && !dl.originalSubject.includes(filter.subject)) return false;
  return true;
}

function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `a DLQ sequence is a positive integer, got ${seq}`, {
      details: { seq },
    });
  }
}

class Queue implements DeadLetterQueue {
  readonly stream: string;
  readonly #transport: Transport;

  constructor(options: DeadLetterQueueOptions) {
    assertEnvironment(options.env);
    this.stream = dlqStreamNameFor(options.env);
    this.#transport = options.transport;
  }

  /** Walks the stream by sequence (deleted sequences are holes), collecting matches until `limit`. */
  async #scan(
    filter: DeadLetterFilter,
    limit: number,
    fromSeq: number,
    toSeq = Infinity,
  ): Promise<DeadLetter[]> {
    const info = await this.#transport.streamInfo(this.stream);
    const out: DeadLetter[] = [];
    if (info === undefined || info.messages === 0) return out;
    const last = Math.min(info.lastSeq, toSeq);
    for (let seq = Math.max(info.firstSeq, fromSeq); seq <= last && out.length < limit; seq++) {
      const stored = await this.#transport.getMessage(this.stream, seq);
      if (stored === undefined) continue;
      const dl = toDeadLetter(stored);
      if (matchesFilter(dl, filter)) out.push(dl);
    }
    return out;
  }

  list(options: DeadLetterListOptions = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? DEFAULT_DLQ_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `limit must be a positive integer, got ${limit}`);
    }
    return this.#scan(options.filter ?? {}, limit, options.fromSeq ?? 1);
  }

  async show(seq: number): Promise<DeadLetter | undefined> {
    checkSeq(seq);
    const stored = await this.#transport.getMessage(this.stream, seq);
    return stored === undefined ? undefined : toDeadLetter(stored);
  }

  async replay(seq: number): Promise<ReplayResult | undefined> {
    const dl = await this.show(seq);
    if (dl === undefined) return undefined;
    return this.#replay(dl);
  }

  async #replay(dl: DeadLetter): Promise<ReplayResult> {
    const msgId = replayMsgId(this.stream, dl.seq);
    // A new msg id, not the event id: the original may still sit in the duplicate window, and the server
    // would drop it. Handlers that did handle the event skip it by their (consumer, event id) dedupe.
    const ack = await this.#transport.publish({
      subject: dl.originalSubject,
      data: dl.data,
      headers: originalHeaders(dl.headers),
      msgId,
    });
    // Deleted only once the stream holds the replay: a crash in between leaves the dead letter, and a
    // second replay is then dropped by the msg id.
    await this.#transport.deleteMessage(this.stream, dl.seq);
    return { seq: dl.seq, subject: dl.originalSubject, msgId, ack, deadLetter: dl };
  }

  async replayAll(filter: DeadLetterFilter = {}): Promise<ReplayResult[]> {
    // Only what is there now: an event that fails again is dead-lettered anew, and must not be replayed
    // in a loop by this same call.
    const info = await this.#transport.streamInfo(this.stream);
    const out: ReplayResult[] = [];
    if (info === undefined) return out;
    let from = 1;
    for (;;) {
      const page = await this.#scan(filter, REPLAY_PAGE, from, info.lastSeq);
      for (const dl of page) out.push(await this.#replay(dl));
      const last = page[page.length - 1];
      if (last === undefined) return out;
      from = last.seq + 1;
    }
  }
}

export function createDeadLetterQueue(options: DeadLetterQueueOptions): DeadLetterQueue {
  return new Queue(options);
}
