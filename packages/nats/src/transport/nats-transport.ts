import {
  type JetStreamClient,
  type JetStreamManager,
  type StreamInfo as JsStreamInfo,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription as NatsSub, Status } from "@nats-io/transport-node";
import {
  type ConsumerConfig,
  type ConsumerInfo,
  type CoreHandler,
  type CoreMessage,
  type CoreSubscribeOptions,
  ErrorCode,
  type MessageHandler,
  type OutboundMessage,
  type PublishAck,
  type PublishOptions,
  type RequestOptions,
  SlotwiseError,
  type StoredMessage,
  type StreamConfig,
  type StreamInfo,
  type Subscription,
  type Transport,
} from "@slotwise/events";
import { type ConnectNatsOptions, connectNats } from "../connection/connect.js";
import {
  MULTI_FILTER_MIN_VERSION,
  TERM_REASON_MIN_VERSION,
  versionAtLeast,
} from "../connection/server-version.js";
import { type AckWriter, createAckWriter } from "./ack-writer.js";
import {
  consumerUpdate,
  fromJsConsumerInfo,
  fromJsStreamInfo,
  fromNatsHeaders,
  streamNeedsUpdate,
  toJsConsumerConfig,
  toJsStreamConfig,
  toNatsHeaders,
} from "./config.js";
import { ConsumeLoop, type NatsConsumeOptions, type NatsSubscription } from "./consume.js";
import { NatsCoreMessage } from "./core-message.js";
import {
  isConsumerNotFound,
  isStreamNotFound,
  JS_ERR,
  jsApiCode,
  type MapContext,
  toSlotwiseError,
} from "./errors.js";
import { PublishPipeline } from "./publish-pipeline.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** JetStream API calls (stream and consumer management). */
export const DEFAULT_API_TIMEOUT_MS = 5_000;

export interface NatsTransportOptions extends ConnectNatsOptions {
  /**
   * Use this connection instead of opening one. `close()` then ends our subscriptions but leaves the
   * connection open: its owner closes it. `servers`, `name` and `reconnect` are ignored.
   */
  connection?: NatsConnection;
  /** Timeout of JetStream API calls (stream and consumer management). @default 5000 */
  apiTimeoutMs?: number;
  /** Told of connection events: disconnect, reconnecting, reconnect, errors. Must not throw. @default no-op */
  onConnectionStatus?: (status: Status) => void;
  /** Told of errors nobody else can be told of (a core-NATS handler that threw). @default no-op */
  onError?: (error: unknown, context: { subject: string }) => void;
}

/** The NATS transport: the `Transport` port plus what only NATS has. */
export interface NatsTransport extends Transport {
  readonly kind: "nats";
  /** The underlying connection, for the NATS-only features (KV buckets, advisories). */
  readonly connection: NatsConnection;
  readonly jetstream: JetStreamClient;
  /** The server's version as it reported it on connect, e.g. `2.9.10`. */
  serverVersion(): string;
  consume(
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options?: NatsConsumeOptions,
  ): Promise<NatsSubscription>;
}

const closedError = () => new SlotwiseError(ErrorCode.CLOSED, "the NATS transport is closed");

class NatsTransportImpl implements NatsTransport {
  readonly kind = "nats" as const;
  readonly connection: NatsConnection;
  readonly jetstream: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #owned: boolean;
  readonly #onError: NatsTransportOptions["onError"];
  readonly #loops = new Set<ConsumeLoop>();
  readonly #coreSubs = new Set<CoreSubscription>();
  readonly #pipeline: PublishPipeline;
  readonly #acks: AckWriter | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(nc: NatsConnection, jsm: JetStreamManager, owned: boolean, options: NatsTransportOptions) {
    this.connection = nc;
    this.#jsm = jsm;
    this.jetstream = jsm.jetstream();
    this.#owned = owned;
    this.#onError = options.onError;
    this.#acks = createAckWriter(nc);
    this.#pipeline = new PublishPipeline(
      nc,
      (err, msg) =>
        toSlotwiseError(err, {
          operation: `publish to "${msg.subject}"`,
          fallback: ErrorCode.PUBLISH_FAILED,
          details: { subject: msg.subject, msgId: msg.msgId },
        }),
      closedError,
    );
    if (options.onConnectionStatus) void this.#watchConnection(options.onConnectionStatus);
  }

  async #watchConnection(listener: (status: Status) => void): Promise<void> {
    for await (const s of this.connection.status()) {
      if (this.#closed) break;
      try {
        listener(s);
      } catch {
        // a listener's bug must not end the watch
      }
    }
  }

  serverVersion(): string {
    return this.connection.info?.version ?? "0.0.0";
  }

  #fail(err: unknown, ctx: MapContext): never {
    if (this.#closed && !(err instanceof SlotwiseError)) throw closedError();
    throw toSlotwiseError(err, ctx);
  }

  #check(): void {
    if (this.#closed) throw closedError();
  }

  // --- JetStream: streams ---

  async #jsStreamInfo(name: string): Promise<JsStreamInfo | undefined> {
    try {
      return await this.#jsm.streams.info(name);
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw err;
    }
  }

  async ensureStream(config: StreamConfig): Promise<StreamInfo> {
    this.#check();
    const wanted = toJsStreamConfig(config);
    // A single server refuses R>1 on create but accepts it on update (2.9) and then keeps one copy: refuse
    // both alike, so a config that cannot be honoured never looks applied.
    if ((wanted.num_replicas ?? 1) > 1 && !this.connection.info?.cluster) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `ensure stream ${config.name}: replicas ${wanted.num_replicas} need a clustered NATS server; this one is standalone`,
        { details: { stream: config.name, replicas: wanted.num_replicas } },
      );
    }
    try {
      let info = await this.#jsStreamInfo(config.name);
      if (info === undefined) {
        try {
          info = await this.#jsm.streams.add(wanted);
        } catch (err) {
          // created by someone else meanwhile: fall through to the update check
          if (jsApiCode(err) !== JS_ERR.StreamNameInUse) throw err;
          info = await this.#jsm.streams.info(config.name);
        }
      }
      if (streamNeedsUpdate(info.config, wanted)) {
        const { name: _name, ...update } = wanted;
        info = await this.#jsm.streams.update(config.name, update);
      }
      return fromJsStreamInfo(info);
    } catch (err) {
      this.#fail(err, {
        operation: `ensure stream ${config.name}`,
        fallback: ErrorCode.INVALID_OPTIONS,
        details: { stream: config.name },
      });
    }
  }

  async streamInfo(name: string): Promise<StreamInfo | undefined> {
    this.#check();
    try {
      const info = await this.#jsStreamInfo(name);
      return info === undefined ? undefined : fromJsStreamInfo(info);
    } catch (err) {
      this.#fail(err, { operation: `stream info ${name}`, fallback: ErrorCode.UNAVAILABLE });
    }
  }

  async deleteStream(name: string): Promise<boolean> {
    this.#check();
    try {
      return await this.#jsm.streams.delete(name);
    } catch (err) {
      if (isStreamNotFound(err)) return false;
      this.#fail(err, { operation: `delete stream ${name}`, fallback: ErrorCode.UNAVAILABLE });
    }
  }

  // --- JetStream: messages ---

  /** The hot path lives in `PublishPipeline` (batched socket writes while acknowledgements are outstanding). */
  publish(msg: OutboundMessage, options?: PublishOptions): Promise<PublishAck> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#pipeline.publish(msg, options);
  }

  async getMessage(stream: string, seq: number): Promise<StoredMessage | undefined> {
    this.#check();
    try {
      const sm = await this.#jsm.streams.getMessage(stream, { seq });
      if (sm === null) return undefined;
      return {
        subject: sm.subject,
        data: sm.data,
        headers: fromNatsHeaders(sm.header),
        seq: sm.seq,
        timestamp: sm.time,
      };
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      this.#fail(err, { operation: `get message ${stream}#${seq}`, fallback: ErrorCode.UNAVAILABLE });
    }
  }

  async deleteMessage(stream: string, seq: number): Promise<boolean> {
    this.#check();
    try {
      // No secure erase: overwriting the bytes costs a disk write and buys nothing for event data.
      return await this.#jsm.streams.deleteMessage(stream, seq, false);
    } catch (err) {
      const code = jsApiCode(err);
      if (
        isStreamNotFound(err) ||
        code === JS_ERR.NoMessageFound ||
        code === JS_ERR.StreamMsgDeleteFailed ||
        code === JS_ERR.SequenceNotFound
      ) {
        return false;
      }
      this.#fail(err, { operation: `delete message ${stream}#${seq}`, fallback: ErrorCode.UNAVAILABLE });
    }
  }

  // --- JetStream: consumers ---

  async ensureConsumer(config: ConsumerConfig): Promise<ConsumerInfo> {
    this.#check();
    const { stream, durable } = config;
    const wanted = toJsConsumerConfig(config, versionAtLeast(this.serverVersion(), MULTI_FILTER_MIN_VERSION));
    try {
      let info = await this.#jsm.consumers.info(stream, durable).catch((err: unknown) => {
        if (isConsumerNotFound(err)) return undefined;
        throw err;
      });
      if (info === undefined) {
        try {
          info = await this.#jsm.consumers.add(stream, wanted);
        } catch (err) {
          // created by another instance meanwhile: reconcile below
          info = await this.#jsm.consumers.info(stream, durable).catch(() => {
            throw err;
          });
        }
      }
      const update = consumerUpdate(info.config, wanted);
      if (update !== undefined) info = await this.#jsm.consumers.update(stream, durable, update);
      return fromJsConsumerInfo(info);
    } catch (err) {
      this.#fail(err, {
        operation: `ensure consumer ${stream}/${durable}`,
        fallback: ErrorCode.INVALID_OPTIONS,
        details: { stream, durable },
      });
    }
  }

  async consumerInfo(stream: string, durable: string): Promise<ConsumerInfo | undefined> {
    this.#check();
    try {
      return fromJsConsumerInfo(await this.#jsm.consumers.info(stream, durable));
    } catch (err) {
      if (isConsumerNotFound(err) || isStreamNotFound(err)) return undefined;
      this.#fail(err, { operation: `consumer info ${stream}/${durable}`, fallback: ErrorCode.UNAVAILABLE });
    }
  }

  async deleteConsumer(stream: string, durable: string): Promise<boolean> {
    this.#check();
    try {
      return await this.#jsm.consumers.delete(stream, durable);
    } catch (err) {
      if (isConsumerNotFound(err) || isStreamNotFound(err)) return false;
      this.#fail(err, { operation: `delete consumer ${stream}/${durable}`, fallback: ErrorCode.UNAVAILABLE });
    }
  }

  async consume(
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options?: NatsConsumeOptions,
  ): Promise<NatsSubscription> {
    this.#check();
    const loop = await ConsumeLoop.start(
      {
        nc: this.connection,
        js: this.jetstream,
        termWithReason: versionAtLeast(this.serverVersion(), TERM_REASON_MIN_VERSION),
        ...(this.#acks === undefined ? {} : { acks: this.#acks }),
        onEnded: (l) => this.#loops.delete(l),
      },
      consumer,
      handler,
      options,
    );
    if (this.#closed) loop.abort();
    else this.#loops.add(loop);
    return loop;
  }

  // --- core NATS ---

  publishCore(msg: OutboundMessage): void {
    this.#check();
    const h = toNatsHeaders(msg.headers, msg.msgId);
    try {
      this.connection.publish(msg.subject, msg.data, h === undefined ? undefined : { headers: h });
    } catch (err) {
      this.#fail(err, { operation: `publish to "${msg.subject}"`, fallback: ErrorCode.PUBLISH_FAILED });
    }
  }

  subscribe(subject: string, handler: CoreHandler, options?: CoreSubscribeOptions): Subscription {
    this.#check();
    const sub = new CoreSubscription(this.connection, subject, handler, options, this.#onError, (s) =>
      this.#coreSubs.delete(s),
    );
    this.#coreSubs.add(sub);
    return sub;
  }

  async request(msg: OutboundMessage, options?: RequestOptions): Promise<CoreMessage> {
    this.#check();
    const timeout = options?.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const h = toNatsHeaders(msg.headers, msg.msgId);
    try {
      const reply = await this.connection.request(
        msg.subject,
        msg.data,
        h === undefined ? { timeout } : { timeout, headers: h },
      );
      return new NatsCoreMessage(reply);
    } catch (err) {
      this.#fail(err, {
        operation: `request to "${msg.subject}"`,
        fallback: ErrorCode.UNAVAILABLE,
        details: { subject: msg.subject, timeoutMs: timeout },
      });
    }
  }

  async flush(): Promise<void> {
    this.#check();
    try {
      await this.connection.flush();
    } catch (err) {
      this.#fail(err, { operation: "flush", fallback: ErrorCode.UNAVAILABLE });
    }
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#pipeline.close();
    for (const loop of [...this.#loops]) loop.abort();
    for (const sub of [...this.#coreSubs]) sub.abort();
    this.#closing = this.#owned ? this.connection.close().catch(() => undefined) : Promise.resolve();
    return this.#closing;
  }
}

/** A core-NATS subscription; `stop()` drains it and waits for running handlers. */
class CoreSubscription implements Subscription {
  readonly closed: Promise<void>;
  readonly #sub: NatsSub;
  readonly #running = new Set<Promise<void>>();
  readonly #onEnded: (s: CoreSubscription) => void;
  #resolveClosed!: () => void;
  #ended = false;
  #stopping: Promise<void> | undefined;

  constructor(
    nc: NatsConnection,
    subject: string,
    handler: CoreHandler,
    options: CoreSubscribeOptions | undefined,
    onError: NatsTransportOptions["onError"],
    onEnded: (s: CoreSubscription) => void,
  ) {
    this.#onEnded = onEnded;
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    const report = (error: unknown) => {
      try {
        onError?.(error, { subject });
      } catch {
        // ignored: the reporter must not break delivery
      }
    };
    const callback = (err: Error | null, m: Msg): void => {
      if (err) {
        report(err);
        return;
      }
      let result: void | Promise<void>;
      try {
        result = handler(new NatsCoreMessage(m));
      } catch (error) {
        report(error);
        return;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === "function") {
        const p: Promise<void> = (result as Promise<void>).then(
          () => {
            this.#running.delete(p);
          },
          (error: unknown) => {
            this.#running.delete(p);
            report(error);
          },
        );
        this.#running.add(p);
      }
    };
    try {
      this.#sub = nc.subscribe(
        subject,
        options?.queue === undefined ? { callback } : { callback, queue: options.queue },
      );
    } catch (err) {
      throw toSlotwiseError(err, {
        operation: `subscribe to "${subject}"`,
        fallback: ErrorCode.INVALID_OPTIONS,
      });
    }
    this.#sub.closed.then(
      () => this.#end(),
      () => this.#end(),
    );
  }

  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#stopping = (async () => {
      if (!this.#sub.isClosed()) await this.#sub.drain().catch(() => undefined);
      while (this.#running.size > 0) await Promise.all([...this.#running]);
      this.#end();
    })();
    return this.#stopping;
  }

  abort(): void {
    try {
      this.#sub.unsubscribe();
    } catch {
      // already closed
    }
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    // a drain closes the nats.js subscription before our running handlers finish: stop() ends us then
    if (this.#stopping !== undefined && this.#running.size > 0) return;
    this.#ended = true;
    this.#onEnded(this);
    this.#resolveClosed();
  }
}

/**
 * The NATS JetStream transport. Opens its own connection (reconnecting for ever by default) unless
 * `connection` is given. Fails with UNAVAILABLE when the server cannot be reached.
 */
export async function createNatsTransport(options: NatsTransportOptions = {}): Promise<NatsTransport> {
  const owned = options.connection === undefined;
  const nc = options.connection ?? (await connectNats(options));
  try {
    const jsm = await jetstreamManager(nc, {
      timeout: options.apiTimeoutMs ?? DEFAULT_API_TIMEOUT_MS,
      checkAPI: false,
    });
    return new NatsTransportImpl(nc, jsm, owned, options);
  } catch (err) {
    if (owned) await nc.close().catch(() => undefined);
    throw toSlotwiseError(err, { operation: "connect JetStream", fallback: ErrorCode.UNAVAILABLE });
  }
}
