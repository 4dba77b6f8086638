/**
 * A durable consumer of the in-process broker, with JetStream's delivery semantics: a cursor over the stream
 * for first deliveries, an ack-pending set bounded by `maxAckPending`, redelivery after the ack wait or a
 * nak (with an optional delay), `maxDeliver` with the max-deliveries advisory, and competing workers (each
 * message goes to one of them, round robin among those with free capacity).
 */
import { randomUUID } from "node:crypto";
import type { ConsumerInfo, DeliverPolicy, Headers, ReceivedMessage } from "../transport.js";
import type { SeqLog } from "./seq-log.js";
import { SubjectFilter, tokenize } from "./subject.js";

/** JetStream's defaults for a consumer's options. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = -1;
export const DEFAULT_MAX_ACK_PENDING = 1000;

/** Subject prefix of JetStream's max-deliveries advisory; `<stream>.<consumer>` follows. */
export const MAX_DELIVERIES_ADVISORY_PREFIX = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";
export const MAX_DELIVERIES_ADVISORY_TYPE = "io.nats.jetstream.advisory.v1.max_deliver";

/** A message as the stream holds it. */
export interface StoredRecord {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly seq: number;
  /** Epoch milliseconds. */
  readonly time: number;
}

/** What a consumer needs of its stream. */
export interface ConsumerSource {
  readonly name: string;
  readonly log: SeqLog<StoredRecord>;
  /** Last sequence ever assigned (0 when none). */
  lastSeq(): number;
  /** First sequence whose message is at or after `time`, or lastSeq + 1. */
  seqAtOrAfter(time: number): number;
}

/** The connection side of a `consume()` call. */
export interface ConsumerWorker {
  hasCapacity(): boolean;
  deliver(msg: MemoryReceivedMessage): void;
  /** The consumer is gone (deleted with its stream, or the broker closed): end the subscription. */
  end(): void;
  /** Settlements from a closed connection are ignored, as a dead process's would never arrive. */
  isDead(): boolean;
}

export interface ConsumerHooks {
  /** Publishes a core message (the advisory) through the broker. */
  publish(subject: string, data: Uint8Array): void;
}

export interface ResolvedConsumerConfig {
  durable: string;
  filterSubjects: string[];
  ackWaitMs: number;
  maxDeliver: number;
  maxAckPending: number;
  deliverPolicy: DeliverPolicy;
}

interface PendingEntry {
  readonly seq: number;
  deliveries: number;
  /** Changes on every delivery and every expiry, so a stale settlement is recognised. */
  token: number;
  /** "out": held by a worker; "waiting": due or scheduled for redelivery. */
  state: "out" | "waiting";
  queued: boolean;
  timer: NodeJS.Timeout | undefined;
}

const encoder = new TextEncoder();

export class MemoryConsumer {
  private config: ResolvedConsumerConfig;
  private filter: SubjectFilter | undefined;
  /** Next stream sequence not yet considered for a first delivery. */
  private cursor: number;
  /** Matching live messages at or after the cursor: JetStream's num_pending. */
  private pendingCount = 0;
  /** Delivered and not yet acknowledged, in delivery order (so ascending sequence). */
  private readonly ackPending = new Map<number, PendingEntry>();
  private readonly redeliverQueue: number[] = [];
  private redeliverHead = 0;
  private waitingCount = 0;
  /** Highest sequence delivered (or skipped by the deliver policy): the ack floor when nothing is pending. */
  private highestDelivered: number;
  private readonly workers: ConsumerWorker[] = [];
  private roundRobin = 0;
  private dispatchScheduled = false;
  private disposed = false;
  private tokens = 0;

  constructor(
    private readonly source: ConsumerSource,
    config: ResolvedConsumerConfig,
    private readonly hooks: ConsumerHooks,
  ) {
    this.config = config;
    this.filter = makeFilter(config.filterSubjects);
    this.cursor = this.startSeq(config.deliverPolicy);
    this.highestDelivered = this.cursor - 1;
    this.recountPending();
  }

  get durable(): string {
    return this.config.durable;
  }

  /** Applies what may change on an existing durable (not its deliver policy). */
  update(config: ResolvedConsumerConfig): void {
    const filterChanged = config.filterSubjects.join("\n") !== this.config.filterSubjects.join("\n");
    this.config = { ...config, deliverPolicy: this.config.deliverPolicy };
    if (filterChanged) {
      this.filter = makeFilter(config.filterSubjects);
      this.recountPending();
    }
    this.scheduleDispatch();
  }

  info(): ConsumerInfo {
    const first = this.ackPending.keys().next();
    return {
      stream: this.source.name,
      durable: this.config.durable,
      pending: this.pendingCount,
      ackPending: this.ackPending.size,
      redelivered: this.waitingCount,
      ackFloor: first.done ? this.highestDelivered : first.value - 1,
    };
  }

  // --- the stream tells the consumer what changed ---

  onAppended(record: StoredRecord): void {
    if (record.seq >= this.cursor && this.accepts(record.subject)) {
      this.pendingCount++;
      this.scheduleDispatch();
    }
  }

  onRemoved(record: StoredRecord): void {
    if (record.seq >= this.cursor && this.accepts(record.subject)) this.pendingCount--;
  }

  // --- workers ---

  addWorker(worker: ConsumerWorker): void {
    this.workers.push(worker);
    this.scheduleDispatch();
  }

  removeWorker(worker: ConsumerWorker): void {
    const i = this.workers.indexOf(worker);
    if (i >= 0) this.workers.splice(i, 1);
  }

  /** A worker freed capacity. */
  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.disposed) return;
    this.dispatchScheduled = true;
    // setImmediate, not a microtask: a handler that naks forever must not starve the event loop.
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  /** The durable is deleted: timers cleared, subscriptions ended, settlements ignored from now on. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const entry of this.ackPending.values()) clearTimeout(entry.timer);
    this.ackPending.clear();
    for (const worker of this.workers.splice(0)) worker.end();
  }

  // --- settlement, called by MemoryReceivedMessage ---

  /** The entry if `token` is still its current delivery and the consumer is alive. */
  current(seq: number, token: number): PendingEntry | undefined {
    if (this.disposed) return undefined;
    const entry = this.ackPending.get(seq);
    return entry && entry.state === "out" && entry.token === token ? entry : undefined;
  }

  /** ack and term: the message is done for this consumer. */
  settle(entry: PendingEntry): void {
    clearTimeout(entry.timer);
    this.ackPending.delete(entry.seq);
    if (entry.seq > this.highestDelivered) this.highestDelivered = entry.seq;
    this.scheduleDispatch();
  }

  nak(entry: PendingEntry, delayMs: number): void {
    clearTimeout(entry.timer);
    entry.token = ++this.tokens;
    entry.state = "waiting";
    this.waitingCount++;
    if (delayMs > 0) {
      entry.timer = setTimeout(() => this.due(entry), delayMs);
      entry.timer.unref();
    } else {
      this.due(entry);
    }
  }

  working(entry: PendingEntry): void {
    entry.timer?.refresh();
  }

  // --- delivery ---

  private expired(entry: PendingEntry, token: number): void {
    if (this.disposed || entry.token !== token || entry.state !== "out") return;
    entry.token = ++this.tokens;
    entry.state = "waiting";
    this.waitingCount++;
    this.due(entry);
  }

  /** The entry may be redelivered now, unless it used up its deliveries. */
  private due(entry: PendingEntry): void {
    if (this.disposed || this.ackPending.get(entry.seq) !== entry) return;
    entry.timer = undefined;
    const { maxDeliver } = this.config;
    if (maxDeliver > 0 && entry.deliveries >= maxDeliver) {
      // Like the server: the message leaves the pending set and an advisory says so, once.
      this.waitingCount--;
      this.settle(entry);
      this.advise(entry);
      return;
    }
    if (!entry.queued) {
      entry.queued = true;
      this.redeliverQueue.push(entry.seq);
    }
    this.scheduleDispatch();
  }

  private advise(entry: PendingEntry): void {
    const body = {
      type: MAX_DELIVERIES_ADVISORY_TYPE,
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      stream: this.source.name,
      consumer: this.config.durable,
      stream_seq: entry.seq,
      deliveries: entry.deliveries,
    };
    this.hooks.publish(
      `${MAX_DELIVERIES_ADVISORY_PREFIX}.${this.source.name}.${this.config.durable}`,
      encoder.encode(JSON.stringify(body)),
    );
  }

  private dispatch(): void {
    while (!this.disposed) {
      const worker = this.nextWorker();
      if (!worker) return;
      const next = this.takeNext();
      if (!next) return;
      const [entry, record] = next;
      entry.token = ++this.tokens;
      entry.state = "out";
      const token = entry.token;
      entry.timer = setTimeout(() => this.expired(entry, token), this.config.ackWaitMs);
      entry.timer.unref();
      worker.deliver(
        new MemoryReceivedMessage(this, worker, record, this.source.name, entry, token, this.pendingCount),
      );
    }
  }

  private nextWorker(): ConsumerWorker | undefined {
    const n = this.workers.length;
    for (let i = 0; i < n; i++) {
      const index = (this.roundRobin + i) % n;
      const worker = this.workers[index] as ConsumerWorker;
      if (worker.hasCapacity()) {
        this.roundRobin = (index + 1) % n;
        return worker;
      }
    }
    return undefined;
  }

  private takeNext(): [PendingEntry, StoredRecord] | undefined {
    // Redeliveries first; they already count against maxAckPending.
    while (this.redeliverHead < this.redeliverQueue.length) {
      const seq = this.redeliverQueue[this.redeliverHead++] as number;
      if (this.redeliverHead > 1024 && this.redeliverHead * 2 > this.redeliverQueue.length) {
        this.redeliverQueue.splice(0, this.redeliverHead);
        this.redeliverHead = 0;
      }
      const entry = this.ackPending.get(seq);
      if (!entry?.queued) continue;
      entry.queued = false;
      this.waitingCount--;
      const record = this.source.log.get(seq);
      if (!record) {
        // Deleted or aged out while waiting: nothing left to redeliver.
        this.ackPending.delete(seq);
        continue;
      }
      entry.deliveries++;
      return [entry, record];
    }
    const { maxAckPending } = this.config;
    if (maxAckPending > 0 && this.ackPending.size >= maxAckPending) return undefined;
    const last = this.source.lastSeq();
    if (this.pendingCount === 0) {
      // Nothing matching is left: jump over whatever is there.
      if (this.cursor <= last) this.cursor = last + 1;
      return undefined;
    }
    while (this.cursor <= last) {
      const seq = this.cursor++;
      const record = this.source.log.get(seq);
      if (!record || !this.accepts(record.subject)) continue;
      this.pendingCount--;
      if (seq > this.highestDelivered) this.highestDelivered = seq;
      const entry: PendingEntry = {
        seq,
        deliveries: 1,
        token: 0,
        state: "out",
        queued: false,
        timer: undefined,
      };
      this.ackPending.set(seq, entry);
      return [entry, record];
    }
    return undefined;
  }

  private accepts(subject: string): boolean {
    return this.filter === undefined || this.filter.test(subject);
  }

  private startSeq(policy: DeliverPolicy): number {
    const first = this.source.log.firstSeq() ?? this.source.lastSeq() + 1;
    if (policy === "all") return first;
    if (policy === "new") return this.source.lastSeq() + 1;
    if ("startSequence" in policy) return Math.max(policy.startSequence, 1);
    return this.source.seqAtOrAfter(policy.startTime.getTime());
  }

  /** Counts matching live messages from the cursor: once at creation or on a filter change. */
  private recountPending(): void {
    const last = this.source.lastSeq();
    const first = this.source.log.firstSeq();
    if (this.filter === undefined && first !== undefined && this.cursor <= first) {
      this.pendingCount = this.source.log.size;
      return;
    }
    let count = 0;
    for (let seq = Math.max(this.cursor, first ?? last + 1); seq <= last; seq++) {
      const record = this.source.log.get(seq);
      if (record && this.accepts(record.subject)) count++;
    }
    this.pendingCount = count;
  }
}

function makeFilter(subjects: readonly string[]): SubjectFilter | undefined {
  return subjects.length === 0 ? undefined : new SubjectFilter(subjects.map(tokenize));
}

/** One delivery of one message to one worker. */
export class MemoryReceivedMessage implements ReceivedMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly streamSequence: number;
  readonly deliveryCount: number;
  readonly timestamp: Date;
  private done = false;

  constructor(
    private readonly consumer: MemoryConsumer,
    private readonly worker: ConsumerWorker,
    record: StoredRecord,
    readonly stream: string,
    private readonly entry: PendingEntry,
    private readonly token: number,
    readonly pending: number,
  ) {
    this.subject = record.subject;
    this.data = record.data;
    this.headers = record.headers;
    this.streamSequence = record.seq;
    this.deliveryCount = entry.deliveries;
    this.timestamp = new Date(record.time);
  }

  /** Settled by the handler (or by the worker after it). */
  get settled(): boolean {
    return this.done;
  }

  ack(): void {
    const entry = this.claim();
    if (entry) this.consumer.settle(entry);
  }

  nak(delayMs?: number): void {
    const entry = this.claim();
    if (entry) this.consumer.nak(entry, Math.max(0, delayMs ?? 0));
  }

  working(): void {
    if (this.done || this.worker.isDead()) return;
    const entry = this.consumer.current(this.entry.seq, this.token);
    if (entry) this.consumer.working(entry);
  }

  term(_reason?: string): void {
    const entry = this.claim();
    if (entry) this.consumer.settle(entry);
  }

  /** The first settlement wins; one from a dead connection or a stale delivery is ignored. */
  private claim(): PendingEntry | undefined {
    if (this.done) return undefined;
    this.done = true;
    if (this.worker.isDead()) return undefined;
    return this.consumer.current(this.entry.seq, this.token);
  }
}
