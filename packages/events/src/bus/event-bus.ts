import { type EventContext, runWithEventContext } from "../context/index.js";
import { publishDeadLetter, type SweepOutcome, startDeadLetterSweeper } from "../dlq/index.js";
import {
  CLOUDEVENTS_CONTENT_TYPE,
  type CloudEvent,
  type CreateEventInput,
  createEvent,
  DEFAULT_ENVIRONMENTS,
  type DecodeOptions,
  decodeEvent,
  dlqStreamNameFor,
  type EventDefinition,
  type EventRegistry,
  encodeEvent,
  parseEventType,
  streamNameFor,
  streamSubjectFor,
} from "../envelope/index.js";
import { ErrorCode, isPermanent, SlotwiseError } from "../errors/index.js";
import { type Logger, NOOP_LOGGER } from "../observability/index.js";
import type {
  CoreMessage,
  DeliverPolicy,
  MessageHandler,
  PublishAck,
  ReceivedMessage,
  Subscription,
  Transport,
} from "../transport/index.js";
import { CONTENT_TYPE_HEADER, isRestartable } from "../transport/index.js";
import { createMemoryDedupeStore, type DedupeStore } from "./dedupe-store.js";
import { isPromiseLike, KeyedQueue } from "./keyed-queue.js";
import { compose, type MessageContext, type Middleware } from "./middleware.js";
import { createPublisher, type OutboundStep, type Publisher } from "./publisher.js";
import { backoffDelay, parseRetryPolicy, type RetryPolicy } from "./retry.js";
import {
  type ConsumerHealth,
  type ConsumerWatchdog,
  createConsumerWatchdog,
  type ParsedWatchdogOptions,
  parseWatchdogOptions,
  type RecoveryInfo,
  type ResumeInfo,
  type StallInfo,
  type WatchdogOptions,
} from "./watchdog.js";

export const DEFAULT_HANDLER_MAX_IN_FLIGHT = 256;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** Told what happens to each delivery and publish; metrics, logs and tests plug in here. */
export interface BusObserver {
  published?(event: CloudEvent, subject: string, outcome: { ack?: PublishAck; error?: unknown }): void;
  handled?(info: DeliveryInfo & { durationMs: number }): void;
  skipped?(info: DeliveryInfo & { reason: "duplicate" | "filtered" }): void;
  retried?(info: DeliveryInfo & { error: unknown; delayMs: number }): void;
  deadLettered?(info: DeliveryInfo & { error: unknown }): void;
  /** A consumer's liveness watchdog found it stalled (once per stall). */
  stalled?(info: StallInfo): void;
  /** A stall ended; `stalledMs` is the whole silent interval. */
  resumed?(info: ResumeInfo): void;
  /** The watchdog re-created a stalled consumer's pull loop (`error` when that failed). */
  recovered?(info: RecoveryInfo): void;
}

export interface DeliveryInfo {
  handler: string;
  consumer: string;
  subject: string;
  event?: CloudEvent;
  deliveryCount: number;
  streamSequence: number;
}

export interface HandlerContext {
  /** Delivery number, 1 on first delivery. */
  readonly attempt: number;
  readonly handler: string;
  /** Durable consumer name, `{service}-{handler}`: the scope of idempotency. */
  readonly consumer: string;
  readonly message: ReceivedMessage;
  /**
   * Tells the bus the handler recognised the event as already processed (its own idempotency record):
   * the delivery is reported as a skipped duplicate, then acked.
   */
  markDuplicate(): void;
}

export type EventHandler<T = unknown> = (event: CloudEvent<T>, ctx: HandlerContext) => void | Promise<void>;

export interface HandleOptions<T = unknown> {
  /** Unique per service; the durable consumer is `{service}-{name}`. */
  name: string;
  /** Event types (names or definitions), all of one domain. */
  types: readonly (string | EventDefinition)[];
  handler: EventHandler<T>;
  /** @default the bus's retry policy */
  retry?: Partial<RetryPolicy>;
  /** Messages in the handler at once (across subjects; one subject is always sequential). @default 256 */
  maxInFlight?: number;
  /** @default 30000 */
  ackWaitMs?: number;
  /** Where a new durable starts. @default "all" */
  deliverPolicy?: DeliverPolicy;
  /** Skip events this consumer already handled (by event id). @default true */
  dedupe?: boolean;
  /**
   * A handler still running after this long fails its delivery with TIMEOUT (retried with backoff), so a
   * hung handler never blocks the events of its subject behind it. @default 90% of `ackWaitMs`
   */
  timeoutMs?: number;
}

export interface EventBusOptions {
  transport: Transport;
  /** Service name: `source` of published events and prefix of durable names. */
  service: string;
  /** Environment of every subject and stream. */
  env: string;
  registry: EventRegistry;
  /** @default ["dev","staging","prod"] plus `env` */
  environments?: readonly string[];
  /** @default an in-process store (100k ids, 10 min) */
  dedupe?: DedupeStore;
  /** @default DEFAULT_RETRY */
  retry?: Partial<RetryPolicy>;
  /** Size and depth limits for incoming messages. */
  decode?: DecodeOptions;
  /** Extra middleware, run after the standard chain and before the handler, first outermost. */
  middleware?: Middleware[];
  /** Steps applied to every outgoing event (authorization, encryption, tracing). */
  outbound?: OutboundStep[];
  /** Create the env's domain streams and DLQ stream at start. @default true */
  provision?: boolean;
  /** @default 1 */
  replicas?: number;
  /** Pipelined publishes in flight at most. @default 256 */
  maxPublishInFlight?: number;
  observer?: BusObserver;
  /**
   * Dead-letter the messages whose consumer died or stalled on every delivery, from the server's
   * max-deliveries advisories (see `dlq/sweeper.ts`): one sweeper per domain stream of this bus's handlers.
   * @default true
   */
  deadLetterSweeper?: boolean;
  /** A liveness watchdog per durable consumer; false turns it off. @default { stallAfterMs: 30000 } */
  watchdog?: WatchdogOptions | false;
  /** Structured log lines (pino or any `Logger`). @default NOOP_LOGGER */
  logger?: Logger;
}

export interface EventBus {
  readonly service: string;
  readonly env: string;
  /** Registers a durable handler; call before `start()`. Names must be unique. */
  handle<T = unknown>(options: HandleOptions<T>): void;
  /** The seed's `Subscribe`: a durable handler for one type. */
  subscribe<T = unknown>(type: string | EventDefinition, handler: EventHandler<T>, name?: string): void;
  /** The seed's `SubscribeQueue`: a core-NATS queue-group subscription (not persisted). */
  subscribeQueue<T = unknown>(
    type: string | EventDefinition,
    queue: string,
    handler: EventHandler<T>,
  ): Subscription;
  /** Publishes, waiting for JetStream's acknowledgement. */
  publish(event: CloudEvent): Promise<PublishAck>;
  /** Pipelined publish; `flush()` reports failures. */
  publishAsync(event: CloudEvent): Promise<void>;
  flush(): Promise<void>;
  /** Builds an event with this service as source (correlation inherited inside handlers). */
  event<T>(input: Omit<CreateEventInput<T>, "source">): CloudEvent<T>;
  /** Request-reply over core NATS; the reply is a CloudEvent. Fails with TIMEOUT / NO_RESPONDERS. */
  request<R = unknown>(event: CloudEvent, options?: { timeoutMs?: number }): Promise<CloudEvent<R>>;
  /** Answers requests of a type; the returned event is the reply. Instances share a queue group. */
  reply(
    type: string | EventDefinition,
    responder: (event: CloudEvent) => CloudEvent | Promise<CloudEvent>,
  ): Subscription;
  /** Each durable consumer's liveness (see `watchdog`); empty before `start()` or with the watchdog off. */
  health(): ConsumerHealth[];
  /** Creates streams and consumers, then starts consuming. */
  start(): Promise<void>;
  /** Stops consuming, waits for in-flight handlers, flushes publishes. */
  drain(): Promise<void>;
  /** Drains, then closes the transport. */
  close(): Promise<void>;
}

interface Registered {
  options: HandleOptions;
  retry: RetryPolicy;
  consumer: string;
  stream: string;
  filter: string;
  types: Set<string>;
  domain: string;
  watchdog?: ConsumerWatchdog;
}

const typeName = (t: string | EventDefinition): string => (typeof t === "string" ? t : t.type);

class Bus implements EventBus {
  readonly service: string;
  readonly env: string;
  readonly #transport: Transport;
  readonly #registry: EventRegistry;
  readonly #dedupe: DedupeStore;
  readonly #retry: RetryPolicy;
  readonly #decode: DecodeOptions;
  readonly #middleware: Middleware[];
  readonly #publisher: Publisher;
  readonly #observer: BusObserver;
  readonly #watchdog: ParsedWatchdogOptions | undefined;
  readonly #logger: Logger;
  readonly #provision: boolean;
  readonly #sweeper: boolean;
  readonly #replicas: number;
  readonly #handlers = new Map<string, Registered>();
  readonly #subscriptions: Subscription[] = [];
  #started = false;
  #closed = false;

  constructor(options: EventBusOptions) {
    this.service = options.service;
    this.env = options.env;
    this.#transport = options.transport;
    this.#registry = options.registry;
    this.#dedupe = options.dedupe ?? createMemoryDedupeStore();
    this.#retry = parseRetryPolicy(options.retry);
    this.#decode = options.decode ?? {};
    this.#middleware = options.middleware ?? [];
    this.#observer = options.observer ?? {};
    this.#watchdog = options.watchdog === false ? undefined : parseWatchdogOptions(options.watchdog);
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#provision = options.provision ?? true;
    this.#sweeper = options.deadLetterSweeper ?? true;
    this.#replicas = options.replicas ?? 1;
    const environments = options.environments ?? DEFAULT_ENVIRONMENTS;
    if (!environments.includes(options.env) && options.environments !== undefined) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `env "${options.env}" is not among the environments`,
        {
          details: { env: options.env, environments },
        },
      );
    }
    this.#publisher = createPublisher({
      transport: options.transport,
      env: options.env,
      registry: options.registry,
      ...(options.outbound ? { steps: options.outbound } : {}),
      ...(options.maxPublishInFlight ? { maxInFlight: options.maxPublishInFlight } : {}),
      ...(this.#observer.published ? { onPublished: this.#observer.published } : {}),
    });
  }

  handle<T = unknown>(options: HandleOptions<T>): void {
    if (this.#started) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `handler "${options.name}" registered after start()`,
      );
    }
    if (this.#handlers.has(options.name)) {
      throw new SlotwiseError(
        ErrorCode.DUPLICATE_NAME,
        `handler "${options.name}" is registered twice; it names the durable consumer, so it must be unique`,
        { details: { handler: options.name } },
      );
    }
    if (!/^[A-Za-z0-9_-]+$/.test(options.name)) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `handler name "${options.name}" must be [A-Za-z0-9_-]+`,
      );
    }
    const types = options.types.map(typeName);
    if (types.length === 0)
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `handler "${options.name}" has no types`);
    const domains = new Set(types.map((t) => parseEventType(t).domain));
    if (domains.size > 1) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `handler "${options.name}" spans domains ${[...domains].join(", ")}; register one handler per domain`,
      );
    }
    const domain = [...domains][0]!;
    this.#handlers.set(options.name, {
      options: options as HandleOptions,
      retry: parseRetryPolicy({ ...this.#retry, ...options.retry }),
      consumer: `${this.service}-${options.name}`,
      stream: streamNameFor(this.env, domain),
      // NATS 2.9 consumers take one filter subject: one type filters exactly, several filter the domain.
      filter: types.length === 1 ? `${this.env}.${types[0]}` : streamSubjectFor(this.env, domain),
      types: new Set(types),
      domain,
    });
  }

  subscribe<T = unknown>(type: string | EventDefinition, handler: EventHandler<T>, name?: string): void {
    const t = typeName(type);
    this.handle({ name: name ?? t.replace(/\./g, "-"), types: [t], handler });
  }

  subscribeQueue<T = unknown>(
    type: string | EventDefinition,
    queue: string,
    handler: EventHandler<T>,
  ): Subscription {
    const subject = `${this.env}.${typeName(type)}`;
    return this.#transport.subscribe(
      subject,
      async (msg) => {
        const event = this.#registry.validate<T>(decodeEvent(msg.data, this.#decode));
        await runWithEventContext(contextOf(event), () =>
          handler(event, {
            attempt: 1,
            handler: queue,
            consumer: queue,
            message: coreAsReceived(msg),
            markDuplicate() {},
          }),
        );
      },
      { queue },
    );
  }

  publish(event: CloudEvent): Promise<PublishAck> {
    return this.#publisher.publish(event);
  }

  publishAsync(event: CloudEvent): Promise<void> {
    return this.#publisher.publishAsync(event);
  }

  flush(): Promise<void> {
    return this.#publisher.flush();
  }

  event<T>(input: Omit<CreateEventInput<T>, "source">): CloudEvent<T> {
    return createEvent({ ...input, source: this.service });
  }

  async request<R = unknown>(
    event: CloudEvent,
    options: { timeoutMs?: number } = {},
  ): Promise<CloudEvent<R>> {
    this.#registry.validate(event);
    const reply = await this.#transport.request(
      {
        subject: `${this.env}.${event.type}`,
        data: encodeEvent(event),
        headers: { [CONTENT_TYPE_HEADER]: CLOUDEVENTS_CONTENT_TYPE },
      },
      { timeoutMs: options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS },
    );
    const decoded = decodeEvent(reply.data, this.#decode);
    if (decoded.type === "slotwise.request.failed.v1") {
      const data = decoded.data as { code?: string; message?: string; details?: Record<string, unknown> };
      throw new SlotwiseError(
        (data.code as ErrorCode) ?? ErrorCode.HANDLER_FAILED,
        data.message ?? "request failed",
        {
          details: data.details ?? {},
        },
      );
    }
    return this.#registry.validate<R>(decoded);
  }

  reply(
    type: string | EventDefinition,
    responder: (event: CloudEvent) => CloudEvent | Promise<CloudEvent>,
  ): Subscription {
    const subject = `${this.env}.${typeName(type)}`;
    return this.#transport.subscribe(
      subject,
      async (msg) => {
        let answer: CloudEvent;
        try {
          const event = this.#registry.validate(decodeEvent(msg.data, this.#decode));
          answer = await runWithEventContext(contextOf(event), async () => {
            const out = await responder(event);
            this.#registry.validate(out);
            return out;
          });
        } catch (error) {
          // A failure travels back as a typed error event, never as silence (the caller would time out).
          const err = error instanceof SlotwiseError ? error : undefined;
          answer = createEvent({
            type: "slotwise.request.failed.v1",
            source: this.service,
            subject: subject,
            data: {
              code: err?.code ?? ErrorCode.HANDLER_FAILED,
              message: error instanceof Error ? error.message : String(error),
              details: err?.details ?? {},
            },
          });
        }
        msg.respond(encodeEvent(answer), { [CONTENT_TYPE_HEADER]: CLOUDEVENTS_CONTENT_TYPE });
      },
      { queue: `${this.service}-replies` },
    );
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (this.#provision) {
      const domains = new Set([...this.#handlers.values()].map((h) => h.domain));
      for (const domain of domains) {
        await this.#transport.ensureStream({
          name: streamNameFor(this.env, domain),
          subjects: [streamSubjectFor(this.env, domain)],
          replicas: this.#replicas,
        });
      }
      await this.#transport.ensureStream({
        name: dlqStreamNameFor(this.env),
        subjects: [`dlq.${this.env}.>`],
        replicas: this.#replicas,
      });
    }
    if (this.#sweeper && this.#handlers.size > 0) {
      this.#subscriptions.push(
        await startDeadLetterSweeper({
          transport: this.#transport,
          streams: [...this.#handlers.values()].map((h) => h.stream),
          provision: this.#provision,
          replicas: this.#replicas,
          onSwept: (outcome) => this.#swept(outcome),
        }),
      );
    }
    for (const h of this.#handlers.values()) {
      await this.#transport.ensureConsumer({
        stream: h.stream,
        durable: h.consumer,
        filterSubjects: [h.filter],
        ackWaitMs: h.options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
        // The server stops at our last attempt too, so a delivery that kills the process every time
        // still ends (its max-deliveries advisory is dead-lettered by the sweeper).
        maxDeliver: h.retry.attempts,
        maxAckPending: h.options.maxInFlight ?? DEFAULT_HANDLER_MAX_IN_FLIGHT,
        deliverPolicy: h.options.deliverPolicy ?? "all",
      });
      let sub: Subscription | undefined;
      if (this.#watchdog) h.watchdog = this.#createWatchdog(h, this.#watchdog, () => sub);
      sub = await this.#transport.consume({ stream: h.stream, durable: h.consumer }, this.#makeDelivery(h), {
        maxInFlight: h.options.maxInFlight ?? DEFAULT_HANDLER_MAX_IN_FLIGHT,
      });
      this.#subscriptions.push(sub);
      h.watchdog?.start();
    }
  }

  #createWatchdog(
    h: Registered,
    options: ParsedWatchdogOptions,
    sub: () => Subscription | undefined,
  ): ConsumerWatchdog {
    const o = this.#observer;
    return createConsumerWatchdog({
      handler: h.options.name,
      consumer: h.consumer,
      stream: h.stream,
      options,
      maxAckPending: h.options.maxInFlight ?? DEFAULT_HANDLER_MAX_IN_FLIGHT,
      probe: () => this.#transport.consumerInfo(h.stream, h.consumer),
      recover: async () => {
        const s = sub();
        if (s !== undefined && isRestartable(s)) await s.restart();
      },
      logger: this.#logger,
      ...(o.stalled ? { onStall: (i: StallInfo) => o.stalled?.(i) } : {}),
      ...(o.resumed ? { onResume: (i: ResumeInfo) => o.resumed?.(i) } : {}),
      ...(o.recovered ? { onRecover: (i: RecoveryInfo) => o.recovered?.(i) } : {}),
    });
  }

  health(): ConsumerHealth[] {
    const out: ConsumerHealth[] = [];
    for (const h of this.#handlers.values()) if (h.watchdog) out.push(h.watchdog.health());
    return out;
  }

  #swept(outcome: SweepOutcome): void {
    if (outcome.kind !== "dead-lettered" || outcome.duplicate) return;
    const { advisory } = outcome;
    const prefix = `${this.service}-`;
    this.#observer.deadLettered?.({
      handler: advisory.consumer.startsWith(prefix)
        ? advisory.consumer.slice(prefix.length)
        : advisory.consumer,
      consumer: advisory.consumer,
      subject: outcome.subject,
      deliveryCount: advisory.deliveries,
      streamSequence: advisory.stream_seq,
      error: outcome.error,
    });
  }

  /**
   * The consumer chain of one handler: subject filter, decode, then per CloudEvents subject in order:
   * validate, dedupe, the user's middleware, the handler (in its event context), remember, ack.
   *
   * This runs per delivered message, so it is written to stay synchronous while every step is: no
   * promise, closure or context object is made unless a step returns a promise (then the rest of the
   * chain continues on it). Observable behaviour is the middleware chain's: the same steps in the same
   * order, the same errors to `fail`, the same observer calls and ack.
   */
  #makeDelivery(h: Registered): MessageHandler {
    const queue = new KeyedQueue();
    const dedupe = h.options.dedupe ?? true;
    const consumer = h.consumer;
    const handlerName = h.options.name;
    const handler = h.options.handler;
    const registry = this.#registry;
    const store = this.#dedupe;
    const observer = this.#observer;
    const decodeOptions = this.#decode;
    const subjectPrefix = `${this.env}.`;
    /** The subjects this handler takes, `{env}.{type}` of each of its types, and the type each names. */
    const accepted = new Map([...h.types].map((t) => [subjectPrefix + t, t]));
    let lastAccepted = "";
    let lastAcceptedType = "";

    const callHandler = (d: Delivery): void | Promise<void> =>
      runWithEventContext(contextOf(d.event), () => handler(d.event, d));
    const middleware = this.#middleware;
    // The user's middleware, composed once around the handler; without any, the handler is called directly.
    const inner: (d: Delivery) => void | Promise<void> =
      middleware.length === 0
        ? callHandler
        : compose(middleware, async (ctx) => {
            await callHandler(ctx as Delivery);
          });

    const remember = (d: Delivery): void | Promise<void> => store.remember(consumer, d.event.id);
    const innerThenRemember = (d: Delivery): void | Promise<void> => {
      const r = inner(d);
      if (isPromiseLike(r)) return r.then(() => remember(d));
      return remember(d);
    };
    const afterSeen = (d: Delivery, seen: boolean): void | Promise<void> => {
      if (seen) {
        d.skipped = "duplicate";
        return;
      }
      return innerThenRemember(d);
    };

    /** validate → dedupe → middleware → handler → remember; throws or rejects to fail the delivery. */
    const chain = (d: Delivery): void | Promise<void> => {
      // validate: data against the registered schema and version. The event was decoded for this delivery
      // alone, so its data is replaced in place (no copy of the event per message).
      (d.event as { data: unknown }).data = registry.parseData(d.event);
      // The message's subject is `{env}.{accepted type}`: it must name the event's type.
      const subject = d.message.subject;
      const named = subject === lastAccepted ? lastAcceptedType : accepted.get(subject);
      if (d.event.type !== named) throw subjectMismatch(subject, d.event);
      if (!dedupe) return inner(d);
      const seen = store.seen(consumer, d.event.id);
      if (isPromiseLike(seen)) return seen.then((s) => afterSeen(d, s));
      return afterSeen(d, seen);
    };

    const info = (msg: ReceivedMessage, event?: CloudEvent): DeliveryInfo => ({
      handler: handlerName,
      consumer,
      subject: msg.subject,
      deliveryCount: msg.deliveryCount,
      streamSequence: msg.streamSequence,
      ...(event ? { event } : {}),
    });

    const fail = async (msg: ReceivedMessage, error: unknown, event?: CloudEvent): Promise<void> => {
      const permanent = isPermanent(error);
      if (!permanent && msg.deliveryCount < h.retry.attempts) {
        const delayMs = backoffDelay(h.retry, msg.deliveryCount);
        this.#observer.retried?.({ ...info(msg, event), error, delayMs });
        msg.nak(delayMs);
        return;
      }
      const reason = permanent
        ? error
        : new SlotwiseError(
            ErrorCode.MAX_DELIVERIES,
            `handler failed ${msg.deliveryCount} times; last error: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
      await publishDeadLetter(this.#transport, {
        subject: msg.subject,
        data: msg.data,
        headers: msg.headers,
        stream: msg.stream,
        streamSequence: msg.streamSequence,
        consumer,
        deliveryCount: msg.deliveryCount,
        error: reason,
      });
      this.#observer.deadLettered?.({ ...info(msg, event), error: reason });
      msg.ack();
    };

    const finish = (d: Delivery): void => {
      if (d.skipped) observer.skipped?.({ ...info(d.message, d.event), reason: d.skipped });
      else observer.handled?.({ ...info(d.message, d.event), durationMs: performance.now() - d.started });
      d.message.ack();
    };
    const failed = (d: Delivery, error: unknown): Promise<void> => fail(d.message, error, d.event);

    // A handler still running at its timeout fails the delivery (retried with backoff) before the server's
    // ack wait would redeliver it behind the hung one in its subject's queue.
    const timeoutMs =
      h.options.timeoutMs ?? Math.max(1, Math.floor((h.options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) * 0.9));
    /** One delivery, its turn in its subject's queue come. */
    const run = (d: Delivery): void | Promise<void> => {
      if (observer.handled) d.started = performance.now();
      let r: void | Promise<void>;
      try {
        r = chain(d);
      } catch (error) {
        return failed(d, error);
      }
      if (isPromiseLike(r)) {
        return withTimeout(r, timeoutMs, d).then(
          () => finish(d),
          (error: unknown) => failed(d, error),
        );
      }
      finish(d);
    };

    const watch = h.watchdog;
    return (msg: ReceivedMessage): void | Promise<void> => {
      watch?.delivered();
      // Filtered on the subject, as the server filters, before decoding: a domain-wide filter delivers types
      // this handler does not take (NATS 2.9: one filter subject). An envelope whose type differs from its
      // subject's is this handler's to refuse (unknown type, mismatch), never silently acked.
      const subject = msg.subject;
      // The last accepted subject first: runs of one type are the rule, and a fresh string hashes anew.
      if (subject !== lastAccepted) {
        const type = accepted.get(subject);
        if (type === undefined) {
          this.#observer.skipped?.({ ...info(msg), reason: "filtered" });
          msg.ack();
          return;
        }
        lastAccepted = subject;
        lastAcceptedType = type;
      }
      let event: CloudEvent;
      try {
        event = decodeEvent(msg.data, decodeOptions);
      } catch (error) {
        return fail(msg, error);
      }
      return queue.enqueue(event.subject, run, new Delivery(msg, handlerName, consumer, event));
    };
  }

  async drain(): Promise<void> {
    for (const h of this.#handlers.values()) h.watchdog?.stop();
    const subs = this.#subscriptions.splice(0);
    await Promise.all(subs.map((s) => s.stop()));
    await this.#publisher.flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.drain();
    } finally {
      await this.#dedupe.close?.();
      await this.#transport.close();
    }
  }
}

function subjectMismatch(subject: string, event: CloudEvent): SlotwiseError {
  return new SlotwiseError(
    ErrorCode.INVALID_SUBJECT,
    `event of type ${event.type} arrived on subject ${subject}: an event travels on {env}.{its type}`,
    { details: { attribute: "type", subject, type: event.type } },
  );
}

function contextOf(event: CloudEvent): EventContext {
  // Built field by field (no spread): one per delivered message.
  const ctx: { -readonly [K in keyof EventContext]: EventContext[K] } = {
    eventId: event.id,
    correlationId: event.correlationid,
    type: event.type,
  };
  if (event.traceparent) ctx.traceparent = event.traceparent;
  return ctx;
}

/**
 * One delivery on its way through the chain: the middleware's `MessageContext` and, the same object, the
 * handler's `HandlerContext` (one allocation per message, not two).
 */
/** Rejects with TIMEOUT when `work` has not settled in `ms` (the work itself runs on; JS cannot cancel it). */
function withTimeout(work: PromiseLike<void>, ms: number, d: Delivery): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new SlotwiseError(ErrorCode.TIMEOUT, `handler "${d.handler}" did not finish within ${ms} ms`, {
          details: { handler: d.handler, eventId: d.event.id, timeoutMs: ms },
        }),
      );
    }, ms);
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

class Delivery implements MessageContext, HandlerContext {
  readonly message: ReceivedMessage;
  readonly handler: string;
  readonly consumer: string;
  event: CloudEvent;
  skipped: "duplicate" | "filtered" | undefined = undefined;
  /** `performance.now()` when the chain began; read only when an observer wants `durationMs`. */
  started = 0;

  constructor(message: ReceivedMessage, handler: string, consumer: string, event: CloudEvent) {
    this.message = message;
    this.handler = handler;
    this.consumer = consumer;
    this.event = event;
  }

  /** Read when asked: the NATS transport parses a message's delivery metadata lazily. */
  get attempt(): number {
    return this.message.deliveryCount;
  }

  markDuplicate(): void {
    this.skipped = "duplicate";
  }
}

function coreAsReceived(msg: CoreMessage): ReceivedMessage {
  return {
    subject: msg.subject,
    data: msg.data,
    headers: msg.headers,
    stream: "",
    streamSequence: 0,
    deliveryCount: 1,
    timestamp: new Date(),
    pending: 0,
    ack() {},
    nak() {},
    working() {},
    term() {},
  };
}

export function createEventBus(options: EventBusOptions): EventBus {
  return new Bus(options);
}
