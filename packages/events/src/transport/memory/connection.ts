/**
 * One client connection to the in-process broker: the `Transport` a service holds. Closing it is abrupt,
 * like a process that dies: its subscriptions end at once and whatever its handlers still hold is
 * redelivered after the ack wait (their late settlements are ignored).
 */
import { AsyncResource } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { ErrorCode, SlotwiseError } from "../../errors/errors.js";
import type {
  ConsumeOptions,
  ConsumerConfig,
  ConsumerInfo,
  CoreHandler,
  CoreMessage,
  CoreSubscribeOptions,
  MessageHandler,
  OutboundMessage,
  PublishAck,
  PublishOptions,
  RequestOptions,
  StoredMessage,
  StreamConfig,
  StreamInfo,
  Subscription,
  Transport,
} from "../transport.js";
import type { Broker, CoreRoute } from "./broker.js";
import type { ConsumerWorker, MemoryConsumer, MemoryReceivedMessage } from "./consumer.js";
import { isValidSubject, type Pattern, tokenize } from "./subject.js";

/** Default of `ConsumeOptions.maxInFlight`. */
export const DEFAULT_MAX_IN_FLIGHT = 256;
/** Default of `RequestOptions.timeoutMs`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** Handler errors of core subscriptions have no one to go to; the broker's option may observe them. */
export type CoreErrorListener = (err: unknown, msg: CoreMessage) => void;

interface Killable {
  /** Ends at once, without waiting for handlers. */
  kill(): void;
}

function closedError(): SlotwiseError {
  return new SlotwiseError(ErrorCode.CLOSED, "the memory transport connection is closed");
}

export class MemoryConnection implements Transport {
  readonly kind = "memory";
  private closing: Promise<void> | undefined;
  private readonly subscriptions = new Set<Killable>();
  private readonly requests = new Set<(err: SlotwiseError) => void>();
  private readonly untrack: () => void;
  /**
   * Handlers run in the async context of `connect()`, as they would on a socket's data event: never in the
   * context of whoever published (which would leak, say, one handler's correlation id into another's).
   */
  private readonly scope = new AsyncResource("slotwise.memory.connection");

  constructor(
    private readonly broker: Broker,
    private readonly onCoreError: CoreErrorListener,
    private readonly afterClose?: () => Promise<void>,
  ) {
    this.untrack = broker.track(() => this.close());
  }

  get isClosed(): boolean {
    return this.closing !== undefined || this.broker.isClosed;
  }

  /** Runs `fn` in this connection's async context. */
  inScope<T>(fn: () => T): T {
    return this.scope.runInAsyncScope(fn);
  }

  private live(): void {
    if (this.isClosed) throw closedError();
  }

  // --- JetStream ---

  async ensureStream(config: StreamConfig): Promise<StreamInfo> {
    this.live();
    return this.broker.ensureStream(config);
  }

  async streamInfo(name: string): Promise<StreamInfo | undefined> {
    this.live();
    return this.broker.streamInfo(name);
  }

  async deleteStream(name: string): Promise<boolean> {
    this.live();
    return this.broker.deleteStream(name);
  }

  async publish(msg: OutboundMessage, _options?: PublishOptions): Promise<PublishAck> {
    this.live();
    return this.broker.publish(msg);
  }

  async getMessage(stream: string, seq: number): Promise<StoredMessage | undefined> {
    this.live();
    const record = this.broker.stream(stream).get(seq);
    if (!record) return undefined;
    return {
      subject: record.subject,
      data: record.data.slice(),
      headers: record.headers,
      seq: record.seq,
      timestamp: new Date(record.time),
    };
  }

  async deleteMessage(stream: string, seq: number): Promise<boolean> {
    this.live();
    return this.broker.stream(stream).remove(seq);
  }

  async ensureConsumer(config: ConsumerConfig): Promise<ConsumerInfo> {
    this.live();
    return this.broker.ensureConsumer(config).info();
  }

  async consumerInfo(stream: string, durable: string): Promise<ConsumerInfo | undefined> {
    this.live();
    return this.broker.consumer(stream, durable)?.info();
  }

  async deleteConsumer(stream: string, durable: string): Promise<boolean> {
    this.live();
    return this.broker.deleteConsumer(stream, durable);
  }

  async consume(
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options: ConsumeOptions = {},
  ): Promise<Subscription> {
    this.live();
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "maxInFlight must be an integer >= 1", {
        details: { field: "maxInFlight", value: maxInFlight },
      });
    }
    const target = this.broker.consumer(consumer.stream, consumer.durable);
    if (!target) {
      throw new SlotwiseError(
        ErrorCode.NOT_FOUND,
        `consumer ${consumer.durable} of stream ${consumer.stream} not found`,
        { details: { ...consumer } },
      );
    }
    const sub = new ConsumeSubscription(target, handler, maxInFlight, this, () =>
      this.subscriptions.delete(sub),
    );
    this.subscriptions.add(sub);
    target.addWorker(sub);
    return sub;
  }

  // --- core NATS ---

  publishCore(msg: OutboundMessage): void {
    this.live();
    this.broker.publishCore(msg);
  }

  subscribe(subject: string, handler: CoreHandler, options: CoreSubscribeOptions = {}): Subscription {
    this.live();
    if (!isValidSubject(subject, true)) {
      throw new SlotwiseError(ErrorCode.INVALID_SUBJECT, `cannot subscribe to "${subject}"`, {
        details: { subject },
      });
    }
    const sub = new CoreSubscription(tokenize(subject), options.queue, handler, this, this.onCoreError, () =>
      this.subscriptions.delete(sub),
    );
    sub.attach(this.broker.addRoute(sub));
    this.subscriptions.add(sub);
    return sub;
  }

  request(msg: OutboundMessage, options: RequestOptions = {}): Promise<CoreMessage> {
    if (this.isClosed) return Promise.reject(closedError());
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const inbox = `_INBOX.${randomUUID().replaceAll("-", "")}`;
    return new Promise<CoreMessage>((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        unroute();
        this.requests.delete(fail);
      };
      const fail = (err: SlotwiseError) => {
        if (done) return;
        finish();
        reject(err);
      };
      const unroute = this.broker.addRoute({
        pattern: tokenize(inbox),
        queue: undefined,
        deliver: (reply) => {
          if (done) return;
          finish();
          resolve(reply);
        },
      });
      const timer = setTimeout(
        () =>
          fail(
            new SlotwiseError(
              ErrorCode.TIMEOUT,
              `request on ${msg.subject} timed out after ${timeoutMs} ms`,
              {
                details: { subject: msg.subject, timeoutMs },
              },
            ),
          ),
        timeoutMs,
      );
      this.requests.add(fail);
      let responders: number;
      try {
        responders = this.broker.publishCore(msg, inbox);
      } catch (err) {
        finish();
        reject(err);
        return;
      }
      if (responders === 0) {
        fail(
          new SlotwiseError(ErrorCode.NO_RESPONDERS, `no one answers requests on ${msg.subject}`, {
            details: { subject: msg.subject },
          }),
        );
      }
    });
  }

  async flush(): Promise<void> {
    this.live();
    // Routing is synchronous; one turn of the event loop lets queued deliveries start.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.untrack();
      for (const sub of [...this.subscriptions]) sub.kill();
      this.subscriptions.clear();
      for (const fail of [...this.requests]) fail(closedError());
      this.scope.emitDestroy();
      await this.afterClose?.();
    })();
    return this.closing;
  }
}

class ConsumeSubscription implements Subscription, ConsumerWorker, Killable {
  readonly closed: Promise<void>;
  private resolveClosed: () => void = () => undefined;
  private state: "active" | "stopping" | "ended" = "active";
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly consumer: MemoryConsumer,
    private readonly handler: MessageHandler,
    private readonly maxInFlight: number,
    private readonly connection: MemoryConnection,
    private readonly release: () => void,
  ) {
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  hasCapacity(): boolean {
    return this.state === "active" && this.inFlight < this.maxInFlight;
  }

  isDead(): boolean {
    return this.connection.isClosed;
  }

  deliver(msg: MemoryReceivedMessage): void {
    this.inFlight++;
    const run = this.connection
      .inScope(() => this.run(msg))
      .finally(() => {
        this.inFlight--;
        this.running.delete(run);
        if (this.state === "active") this.consumer.scheduleDispatch();
      });
    this.running.add(run);
  }

  private async run(msg: MemoryReceivedMessage): Promise<void> {
    try {
      await this.handler(msg);
      if (!msg.settled) msg.ack();
    } catch {
      // The handler's error is its own business; the message is retried at once.
      if (!msg.settled) msg.nak();
    }
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.state === "ended") return this.closed;
    this.state = "stopping";
    this.consumer.removeWorker(this);
    const drain = (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
      this.finish();
    })();
    // An abrupt close while draining ends the wait too.
    this.stopping = Promise.race([drain, this.closed]);
    return this.stopping;
  }

  /** The consumer was deleted. */
  end(): void {
    this.finish();
  }

  kill(): void {
    this.consumer.removeWorker(this);
    this.finish();
  }

  private finish(): void {
    if (this.state === "ended") return;
    this.state = "ended";
    this.release();
    this.resolveClosed();
  }
}

class CoreSubscription implements Subscription, CoreRoute, Killable {
  readonly closed: Promise<void>;
  private resolveClosed: () => void = () => undefined;
  private active = true;
  private unroute: () => void = () => undefined;
  private readonly running = new Set<Promise<void>>();
  private stopping: Promise<void> | undefined;

  constructor(
    readonly pattern: Pattern,
    readonly queue: string | undefined,
    private readonly handler: CoreHandler,
    private readonly connection: MemoryConnection,
    private readonly onError: CoreErrorListener,
    private readonly release: () => void,
  ) {
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  attach(unroute: () => void): void {
    this.unroute = unroute;
  }

  deliver(msg: CoreMessage): void {
    if (!this.active) return;
    // Asynchronous like a network delivery; promise jobs keep the publish order per subscription.
    const run = Promise.resolve()
      .then(() => this.connection.inScope(() => this.handler(msg)))
      .then(undefined, (err: unknown) => this.onError(err, msg))
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.detach();
    const drain = (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
      this.resolveClosed();
    })();
    this.stopping = Promise.race([drain, this.closed]);
    return this.stopping;
  }

  kill(): void {
    this.detach();
    this.resolveClosed();
  }

  private detach(): void {
    if (!this.active) return;
    this.active = false;
    this.unroute();
    this.release();
  }
}
