import type { ConsumerMessages, ConsumerNotification, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConsumeOptions, MessageHandler, Subscription } from "@slotwise/events";
import { ErrorCode, SlotwiseError } from "@slotwise/events";
import { type AckWriter, ackSubjectOf } from "./ack-writer.js";
import { toSlotwiseError } from "./errors.js";
import { NatsReceivedMessage, type SettleOwner } from "./received-message.js";

export const DEFAULT_MAX_IN_FLIGHT = 256;
/** First pause before re-creating a pull loop that nats.js ended; doubles up to the cap. */
export const DEFAULT_RESTART_DELAY_MS = 250;
export const MAX_RESTART_DELAY_MS = 5_000;

/**
 * What a consumer reports on the side: nats.js's own notifications (heartbeats, missed heartbeats,
 * consumer or stream not found, discards, …) plus the consume loop's.
 */
export type ConsumeStatus =
  | ConsumerNotification
  | { type: "handler_error"; error: unknown; subject: string; streamSequence: number }
  /** nats.js ended the pull loop (not a stop of ours): it is re-created after a pause. */
  | { type: "consume_ended"; error?: unknown }
  | { type: "restarted"; attempt: number }
  | { type: "restart_failed"; attempt: number; error: SlotwiseError };

export interface NatsConsumeOptions extends ConsumeOptions {
  /** Messages asked of the server per pull request. @default maxInFlight */
  batch?: number;
  /**
   * Told of every side-band event (see `ConsumeStatus`) except nats.js's per-pull "next" notices. Must not
   * throw (a throw is swallowed). @default no-op
   */
  onStatus?: (status: ConsumeStatus) => void;
}

/** Counters a liveness watchdog reads. Times are epoch milliseconds, 0 when it never happened. */
export interface ConsumeStats {
  delivered: number;
  /** Stamped once per event-loop turn that delivered messages (right after it), not per message. */
  lastDeliveryAt: number;
  lastHeartbeatAt: number;
  missedHeartbeats: number;
  restarts: number;
  /** Handed to the handler and not yet settled. */
  inFlight: number;
  /** Received while `maxInFlight` messages were in flight, waiting for room. */
  buffered: number;
}

export interface NatsSubscription extends Subscription {
  readonly stream: string;
  readonly durable: string;
  stats(): ConsumeStats;
  /**
   * Drops the current pull loop and starts a fresh one (a watchdog's recovery for a stalled consumer).
   * In-flight handlers keep running. Fails with NOT_FOUND when the durable is gone.
   */
  restart(): Promise<void>;
}

export interface ConsumeDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  /** Whether `term(reason)` may carry its reason (servers from 2.10). */
  termWithReason: boolean;
  /** The connection's batched ack writer; without one, acks go through `JsMsg.ack()`. */
  acks?: AckWriter;
  /** Told when the subscription has ended, so the transport forgets it. */
  onEnded: (sub: ConsumeLoop) => void;
}

type State = "running" | "stopping" | "stopped";

function ackThrough(acks: AckWriter, m: JsMsg): void {
  const subject = ackSubjectOf(m);
  if (subject === undefined) m.ack();
  else acks.ack(subject);
}

function parseConsumeOptions(options: NatsConsumeOptions): { maxInFlight: number; batch: number } {
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const batch = options.batch ?? maxInFlight;
  for (const [field, value] of [
    ["maxInFlight", maxInFlight],
    ["batch", batch],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `${field} must be a positive integer, got ${value}`,
        {
          details: { [field]: value },
        },
      );
    }
  }
  return { maxInFlight, batch };
}

/**
 * One `consume()` of a durable: nats.js's callback-mode pull loop feeding a bounded set of handler calls.
 *
 * nats.js pulls ahead of the handler (it refills at 75% of a batch), so messages that arrive while
 * `maxInFlight` are running wait in a FIFO buffer; the server's `max_ack_pending` bounds that buffer.
 * nats.js keeps the loop alive across reconnects and missed heartbeats; if it ever ends the loop itself
 * (a server 400, a lost inbox subscription) the loop is re-created, so a consumer never stops silently.
 */
export class ConsumeLoop implements NatsSubscription {
  readonly stream: string;
  readonly durable: string;
  readonly closed: Promise<void>;
  readonly #deps: ConsumeDeps;
  readonly #handler: MessageHandler;
  readonly #maxInFlight: number;
  readonly #batch: number;
  readonly #onStatus: ((status: ConsumeStatus) => void) | undefined;
  #state: State = "running";
  #messages: ConsumerMessages | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #restartAttempt = 0;
  #buffer: (JsMsg | undefined)[] = [];
  #head = 0;
  #pumping = false;
  #inFlight = 0;
  #running = 0;
  #idle: (() => void)[] = [];
  #resolveClosed!: () => void;
  #stats = { delivered: 0, lastDeliveryAt: 0, lastHeartbeatAt: 0, missedHeartbeats: 0, restarts: 0 };
  readonly #onMessage = (m: JsMsg): void => this.#receive(m);
  #stamping = false;
  readonly #stamp = (): void => {
    this.#stamping = false;
    this.#stats.lastDeliveryAt = Date.now();
  };
  /** What each message sees of this loop (a plain object: no private-field access on the hot path). */
  readonly #owner: SettleOwner & { live: boolean };

  private constructor(
    deps: ConsumeDeps,
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options: NatsConsumeOptions,
  ) {
    const { maxInFlight, batch } = parseConsumeOptions(options);
    this.#deps = deps;
    this.stream = consumer.stream;
    this.durable = consumer.durable;
    this.#handler = handler;
    this.#maxInFlight = maxInFlight;
    this.#batch = batch;
    this.#onStatus = options.onStatus;
    const acks = deps.acks;
    this.#owner = {
      live: true,
      termWithReason: deps.termWithReason,
      settled: () => this.#settled(),
      ack: acks === undefined ? (m) => m.ack() : (m) => ackThrough(acks, m),
    };
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** Starts consuming; fails with NOT_FOUND when the stream or durable does not exist. */
  static async start(
    deps: ConsumeDeps,
    consumer: { stream: string; durable: string },
    handler: MessageHandler,
    options: NatsConsumeOptions = {},
  ): Promise<ConsumeLoop> {
    const loop = new ConsumeLoop(deps, consumer, handler, options);
    await loop.#open();
    return loop;
  }

  stats(): ConsumeStats {
    return {
      ...this.#stats,
      inFlight: this.#inFlight,
      buffered: this.#buffer.length - this.#head,
    };
  }

  async #open(): Promise<void> {
    let messages: ConsumerMessages;
    try {
      const consumer = await this.#deps.js.consumers.get(this.stream, this.durable);
      messages = await consumer.consume({ max_messages: this.#batch, callback: this.#onMessage });
    } catch (err) {
      throw toSlotwiseError(err, {
        operation: `consume ${this.stream}/${this.durable}`,
        fallback: ErrorCode.UNAVAILABLE,
        details: { stream: this.stream, durable: this.durable },
      });
    }
    if (this.#state !== "running") {
      // stopped while the consumer was being looked up
      await messages.close().catch(() => undefined);
      return;
    }
    this.#messages = messages;
    void this.#watchStatus(messages);
    messages.closed().then(
      (result) => this.#loopEnded(messages, result instanceof Error ? result : undefined),
      (error: unknown) => this.#loopEnded(messages, error),
    );
  }

  async #watchStatus(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of messages.status()) {
        if (s.type === "next") continue;
        if (s.type === "heartbeat") this.#stats.lastHeartbeatAt = Date.now();
        else if (s.type === "heartbeats_missed") this.#stats.missedHeartbeats++;
        this.#emit(s);
      }
    } catch {
      // the status iterator only ends with its loop; nothing to do
    }
  }

  #emit(status: ConsumeStatus): void {
    if (this.#onStatus === undefined) return;
    try {
      this.#onStatus(status);
    } catch {
      // a listener's bug must not stop consumption
    }
  }

  #loopEnded(messages: ConsumerMessages, error: unknown): void {
    if (messages !== this.#messages || this.#state !== "running") return;
    this.#messages = undefined;
    if (this.#deps.nc.isClosed()) {
      this.#end();
      return;
    }
    this.#emit(error === undefined ? { type: "consume_ended" } : { type: "consume_ended", error });
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    if (this.#state !== "running" || this.#restartTimer !== undefined) return;
    const delay = Math.min(DEFAULT_RESTART_DELAY_MS * 2 ** this.#restartAttempt, MAX_RESTART_DELAY_MS);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#tryRestart();
    }, delay);
  }

  async #tryRestart(): Promise<void> {
    if (this.#state !== "running") return;
    if (this.#deps.nc.isClosed()) {
      this.#end();
      return;
    }
    const attempt = ++this.#restartAttempt;
    try {
      await this.#open();
      this.#restartAttempt = 0;
      this.#stats.restarts++;
      this.#emit({ type: "restarted", attempt });
    } catch (err) {
      this.#emit({ type: "restart_failed", attempt, error: err as SlotwiseError });
      this.#scheduleRestart();
    }
  }

  async restart(): Promise<void> {
    if (this.#state !== "running") {
      throw new SlotwiseError(ErrorCode.CLOSED, `consumer ${this.stream}/${this.durable} is stopped`);
    }
    const old = this.#messages;
    this.#messages = undefined;
    if (this.#restartTimer !== undefined) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
    }
    await old?.close().catch(() => undefined);
    await this.#open();
    this.#stats.restarts++;
  }

  #receive(m: JsMsg): void {
    // nats.js stops its loop when this callback throws: nothing below may throw.
    if (this.#state !== "running") {
      this.#release(m);
      return;
    }
    this.#stats.delivered++;
    if (!this.#stamping) {
      // nats.js hands over a whole socket read in one turn: stamp the time once per turn, after it,
      // rather than reading the clock for every message.
      this.#stamping = true;
      queueMicrotask(this.#stamp);
    }
    if (this.#inFlight < this.#maxInFlight && this.#head === this.#buffer.length) {
      this.#dispatch(m);
    } else {
      this.#buffer.push(m);
      this.#pump();
    }
  }

  /** Hands a message back to the server at once, so another instance need not wait for the ack wait. */
  #release(m: JsMsg): void {
    try {
      m.nak();
    } catch {
      // connection closed: redelivered after the ack wait
    }
  }

  #dispatch(m: JsMsg): void {
    this.#inFlight++;
    this.#running++;
    const msg = new NatsReceivedMessage(m, this.#owner);
    let result: void | Promise<void>;
    try {
      result = this.#handler(msg);
    } catch (error) {
      this.#failed(msg, error);
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === "function") {
      (result as Promise<void>).then(
        () => this.#succeeded(msg),
        (error: unknown) => this.#failed(msg, error),
      );
    } else {
      this.#succeeded(msg);
    }
  }

  #succeeded(msg: NatsReceivedMessage): void {
    this.#running--;
    if (!msg.settled) msg.ack();
    else this.#checkIdle();
  }

  #failed(msg: NatsReceivedMessage, error: unknown): void {
    this.#running--;
    this.#emit({ type: "handler_error", error, subject: msg.subject, streamSequence: msg.streamSequence });
    if (!msg.settled) msg.nak();
    else this.#checkIdle();
  }

  #settled(): void {
    this.#inFlight--;
    this.#pump();
    this.#checkIdle();
  }

  /** Dispatches buffered messages while there is room; a loop, not recursion, so sync handlers stay shallow. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (
        this.#state === "running" &&
        this.#inFlight < this.#maxInFlight &&
        this.#head < this.#buffer.length
      ) {
        const m = this.#buffer[this.#head]!;
        this.#buffer[this.#head++] = undefined;
        this.#dispatch(m);
      }
      if (this.#head === this.#buffer.length) {
        // Emptied: start over (only when something was taken, as this runs once per settled message).
        if (this.#head > 0) {
          this.#buffer = [];
          this.#head = 0;
        }
      } else if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
    } finally {
      this.#pumping = false;
    }
  }

  #checkIdle(): void {
    if (this.#inFlight > 0 || this.#running > 0 || this.#idle.length === 0) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }

  async stop(): Promise<void> {
    if (this.#state !== "running") return this.closed;
    this.#state = "stopping";
    if (this.#restartTimer !== undefined) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
    }
    const messages = this.#messages;
    this.#messages = undefined;
    await messages?.close().catch(() => undefined);
    this.#deps.acks?.flush();
    await this.#deps.nc.flush().catch(() => undefined);
    // Buffered messages never reached the handler: hand them back rather than wait out the ack wait.
    for (let i = this.#head; i < this.#buffer.length; i++) {
      const m = this.#buffer[i];
      if (m !== undefined) this.#release(m);
    }
    this.#buffer = [];
    this.#head = 0;
    if (this.#inFlight > 0 || this.#running > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    this.#end();
  }

  /** The transport closed: end at once, like a process that dies. Running handlers can no longer settle. */
  abort(): void {
    if (this.#state === "stopped") return;
    this.#state = "stopping";
    this.#owner.live = false;
    if (this.#restartTimer !== undefined) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
    }
    const messages = this.#messages;
    this.#messages = undefined;
    messages?.close().catch(() => undefined);
    this.#buffer = [];
    this.#head = 0;
    this.#end();
  }

  #end(): void {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
    this.#deps.onEnded(this);
    this.#resolveClosed();
  }
}
