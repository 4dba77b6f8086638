/**
 * The transport port: JetStream's model (streams, durable consumers, explicit ack, nak with delay,
 * redelivery, max deliveries, duplicate window) plus core-NATS pub/sub, queue groups and request-reply.
 * Two implementations pass one conformance suite (`testing/transport-conformance.ts`): the in-process
 * transport (`./memory/`) and NATS JetStream (`@slotwise/nats`).
 *
 * The transport moves bytes and headers; envelopes, validation and the consumer chain sit above it.
 */

export type Headers = Readonly<Record<string, string>>;

/** Header carrying the event id; JetStream drops a second message with the same id within the window. */
export const MSG_ID_HEADER = "Nats-Msg-Id";
export const CONTENT_TYPE_HEADER = "Content-Type";

export interface OutboundMessage {
  subject: string;
  data: Uint8Array;
  headers?: Record<string, string>;
  /** De-duplication id (`Nats-Msg-Id`); the event id. */
  msgId?: string;
}

export interface PublishOptions {
  /** How long to wait for the stream's acknowledgement. @default 5000 */
  timeoutMs?: number;
}

export interface PublishAck {
  stream: string;
  seq: number;
  /** The stream already held a message with this msgId inside its duplicate window. */
  duplicate: boolean;
}

export interface StreamConfig {
  name: string;
  subjects: string[];
  /** @default 1 */
  replicas?: number;
  /** @default 120000 (two minutes, JetStream's default) */
  duplicateWindowMs?: number;
  /** 0 keeps messages forever. @default 0 */
  maxAgeMs?: number;
  /** @default "file" */
  storage?: "file" | "memory";
  /** Largest message the stream accepts, in bytes; -1 for the server's limit. @default -1 */
  maxMsgSize?: number;
}

export interface StreamInfo {
  name: string;
  subjects: string[];
  messages: number;
  firstSeq: number;
  lastSeq: number;
  replicas: number;
  duplicateWindowMs: number;
}

/** Where a new durable starts; ignored when the durable already exists. */
export type DeliverPolicy = "all" | "new" | { startTime: Date } | { startSequence: number };

export interface ConsumerConfig {
  stream: string;
  /** Durable name; instances sharing it compete for messages (a queue group). */
  durable: string;
  /** Only messages on these subjects (wildcards allowed). @default every subject of the stream */
  filterSubjects?: string[];
  /** Redelivery after this long without ack. @default 30000 */
  ackWaitMs?: number;
  /** Deliveries before the server gives up (-1: unlimited). @default -1 */
  maxDeliver?: number;
  /** Unacknowledged messages the server hands out at most. @default 1000 */
  maxAckPending?: number;
  /** @default "all" */
  deliverPolicy?: DeliverPolicy;
}

export interface ConsumerInfo {
  stream: string;
  durable: string;
  /** Messages not yet delivered. */
  pending: number;
  /** Delivered but not acknowledged. */
  ackPending: number;
  /** Being redelivered. */
  redelivered: number;
  /** Stream sequence of the last acknowledged message (ack floor). */
  ackFloor: number;
}

/** A message delivered by a durable consumer. Settle it exactly once. */
export interface ReceivedMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly stream: string;
  readonly streamSequence: number;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  /** When the stream stored it. */
  readonly timestamp: Date;
  /** Messages left for this consumer after this one. */
  readonly pending: number;
  ack(): void;
  /** Redeliver, after `delayMs` if given (the only way to delay a retry: JetStream's BackOff applies to ack timeouts only). */
  nak(delayMs?: number): void;
  /** Resets the ack-wait timer for long work. */
  working(): void;
  /** Never redeliver. */
  term(reason?: string): void;
}

/**
 * Called for each delivered message. Calls are concurrent up to `maxInFlight`; a message the handler did
 * not settle is acked when the returned promise resolves and nak'ed at once when it rejects.
 */
export type MessageHandler = (msg: ReceivedMessage) => void | Promise<void>;

export interface ConsumeOptions {
  /** Messages handed to the handler and not yet settled, at most. @default 256 */
  maxInFlight?: number;
}

export interface Subscription {
  /** Stops taking messages, waits for in-flight handlers to settle, then resolves. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the subscription has ended (stopped or transport closed). */
  readonly closed: Promise<void>;
}

/**
 * An optional capability of a durable consumer's subscription: drop the current pull loop and start a
 * fresh one, leaving in-flight handlers running (the liveness watchdog's recovery). Check with
 * `isRestartable`.
 */
export interface RestartableSubscription extends Subscription {
  restart(): Promise<void>;
}

export function isRestartable(sub: Subscription): sub is RestartableSubscription {
  return typeof (sub as Partial<RestartableSubscription>).restart === "function";
}

/** A core-NATS message (not persisted). `respond` answers a request. */
export interface CoreMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  /** The reply subject when this is a request. */
  readonly reply?: string;
  respond(data: Uint8Array, headers?: Record<string, string>): void;
}

export type CoreHandler = (msg: CoreMessage) => void | Promise<void>;

export interface CoreSubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

export interface RequestOptions {
  /** @default 5000; a request unanswered by then fails with TIMEOUT. */
  timeoutMs?: number;
}

export interface StoredMessage {
  subject: string;
  data: Uint8Array;
  headers: Headers;
  seq: number;
  timestamp: Date;
}

export interface Transport {
  /** "memory" or "nats". */
  readonly kind: string;

  // --- JetStream ---
  /** Creates the stream or updates it to the config. */
  ensureStream(config: StreamConfig): Promise<StreamInfo>;
  streamInfo(name: string): Promise<StreamInfo | undefined>;
  /** Returns false when there was no such stream. */
  deleteStream(name: string): Promise<boolean>;
  /** Resolves after the stream acknowledged the message. */
  publish(msg: OutboundMessage, options?: PublishOptions): Promise<PublishAck>;
  /** One stored message by sequence, or undefined. */
  getMessage(stream: string, seq: number): Promise<StoredMessage | undefined>;
  deleteMessage(stream: string, seq: number): Promise<boolean>;
  /** Creates the durable consumer, or updates what may change of an existing one. */
  ensureConsumer(config: ConsumerConfig): Promise<ConsumerInfo>;
  consumerInfo(stream: string, durable: string): Promise<ConsumerInfo | undefined>;
  deleteConsumer(stream: string, durable: string): Promise<boolean>;
  /** Receives from an existing durable; several consumers on one durable compete for messages. */
  consume(
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options?: ConsumeOptions,
  ): Promise<Subscription>;

  // --- core NATS ---
  publishCore(msg: OutboundMessage): void;
  subscribe(subject: string, handler: CoreHandler, options?: CoreSubscribeOptions): Subscription;
  /** Fails with TIMEOUT or NO_RESPONDERS as a typed error, never hangs. */
  request(msg: OutboundMessage, options?: RequestOptions): Promise<CoreMessage>;

  /** Waits until everything published so far reached the server. */
  flush(): Promise<void>;
  /**
   * Ends every subscription and releases the connection at once, like a process that dies: handlers still
   * running cannot settle any more, so their messages are redelivered after the ack wait. For a graceful
   * end, `stop()` each subscription first (it drains). Idempotent.
   */
  close(): Promise<void>;
}
