import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import {
  ErrorCode,
  type OutboundMessage,
  type PublishAck,
  type PublishOptions,
  SlotwiseError,
} from "@slotwise/events";
import { toNatsHeaders } from "./config.js";
import { JS_ERR } from "./errors.js";

export const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000;
/** How often unanswered publishes are checked against their deadline; a timeout fires up to this late. */
export const PUBLISH_TIMEOUT_SWEEP_MS = 50;

interface Pending {
  subject: string;
  msgId: string | undefined;
  deadline: number;
  timeoutMs: number;
  resolve: (ack: PublishAck) => void;
  reject: (err: unknown) => void;
}

interface Queued {
  msg: OutboundMessage;
  timeoutMs: number;
  resolve: (ack: PublishAck) => void;
  reject: (err: unknown) => void;
}

/** JetStream's answer to a publish: an ack, or an API error. */
interface AckReply {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

/**
 * JetStream publishes with their acknowledgements correlated here, on one reply subscription.
 *
 * A JetStream publish is a NATS message with a reply subject; the stream answers on it. nats.js's
 * `js.publish` goes through its generic request machinery, which per message creates a timer, a nuid
 * token, a deferred and two `Error` objects (stack traces included, even on success). Here one wildcard
 * subscription receives every ack, a counter makes the tokens, and one sweep timer enforces the
 * timeouts. The wire protocol is the same as nats.js's: `Nats-Msg-Id` header, ack JSON, a 503 status
 * when no stream captures the subject.
 *
 * Writes are batched too. nats.js writes its outbound buffer one microtask after the first command is
 * queued, so a caller that awaits anything between two publishes (every `async` step does) pays one
 * socket write per message. With nothing in flight a publish goes out at once (an awaited publish gains
 * no latency); with acknowledgements outstanding, publishes made in the same turn of the event loop are
 * handed to nats.js together in the next turn (`setImmediate`) and leave in one write. Order is kept:
 * once something is queued, everything queues behind it.
 */
export class PublishPipeline {
  readonly #nc: NatsConnection;
  readonly #mapError: (err: unknown, msg: { subject: string; msgId?: string }) => unknown;
  readonly #closedError: () => unknown;
  readonly #pending = new Map<string, Pending>();
  #inbox = "";
  #sub: Subscription | undefined;
  #token = 0;
  #queue: Queued[] = [];
  #scheduled = false;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Timeout shared by every pending publish, or -1 when they differ (deadlines then are not in order). */
  #uniformTimeout = 0;
  #closed = false;

  constructor(
    nc: NatsConnection,
    mapError: (err: unknown, msg: { subject: string; msgId?: string }) => unknown,
    closedError: () => unknown,
  ) {
    this.#nc = nc;
    this.#mapError = mapError;
    this.#closedError = closedError;
    // A connection closed by its owner (not by us) fails what is still waiting, rather than let it time out.
    nc.closed().then(
      () => this.close(),
      () => this.close(),
    );
  }

  /** Acknowledgements outstanding plus publishes queued. */
  get pending(): number {
    return this.#pending.size + this.#queue.length;
  }

  publish(msg: OutboundMessage, options: PublishOptions | undefined): Promise<PublishAck> {
    const timeoutMs = options?.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#pending.size === 0 && this.#queue.length === 0) {
      return new Promise<PublishAck>((resolve, reject) => this.#send(msg, timeoutMs, resolve, reject));
    }
    return new Promise<PublishAck>((resolve, reject) => {
      this.#queue.push({ msg, timeoutMs, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#drain);
      }
    });
  }

  /** Fails everything queued or unanswered with CLOSED and drops the reply subscription. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSweeper();
    const queued = this.#queue;
    this.#queue = [];
    for (const q of queued) q.reject(this.#closedError());
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(this.#closedError());
    try {
      this.#sub?.unsubscribe();
    } catch {
      // the connection is closed already
    }
  }

  readonly #drain = (): void => {
    this.#scheduled = false;
    const queued = this.#queue;
    this.#queue = [];
    for (const q of queued) {
      if (this.#closed) q.reject(this.#closedError());
      else this.#send(q.msg, q.timeoutMs, q.resolve, q.reject);
    }
  };

  #send(
    msg: OutboundMessage,
    timeoutMs: number,
    resolve: (ack: PublishAck) => void,
    reject: (err: unknown) => void,
  ): void {
    let h: MsgHdrs | undefined;
    try {
      if (this.#sub === undefined) this.#subscribe();
      h = toNatsHeaders(msg.headers, msg.msgId);
      const token = (++this.#token).toString(36);
      // publish before registering: a synchronous failure (too large, closed) must leave nothing behind
      this.#nc.publish(
        msg.subject,
        msg.data,
        h === undefined ? { reply: this.#inbox + token } : { reply: this.#inbox + token, headers: h },
      );
      this.#pending.set(token, {
        subject: msg.subject,
        msgId: msg.msgId,
        deadline: Date.now() + timeoutMs,
        timeoutMs,
        resolve,
        reject,
      });
      if (this.#pending.size === 1) this.#uniformTimeout = timeoutMs;
      else if (this.#uniformTimeout !== timeoutMs) this.#uniformTimeout = -1;
      if (this.#sweeper === undefined) this.#startSweeper();
    } catch (err) {
      reject(this.#mapError(err, msg));
    }
  }

  #subscribe(): void {
    // The connection's own inbox prefix (permissions are often granted on it); not on the public type.
    const prefix = (this.#nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    const inbox = createInbox(prefix);
    this.#inbox = `${inbox}.`;
    this.#sub = this.#nc.subscribe(`${inbox}.*`, { callback: this.#onReply });
  }

  readonly #onReply = (err: Error | null, m: Msg): void => {
    if (err !== null) return; // the reply subscription failed (permissions): publishes time out, and say so
    const token = m.subject.slice(this.#inbox.length);
    const p = this.#pending.get(token);
    if (p === undefined) return; // answered after its timeout
    // The sweeper stays until a sweep finds nothing pending: awaited publishes one after another then
    // share one timer instead of setting and clearing one each.
    this.#pending.delete(token);
    if (m.data.length === 0 && m.headers?.code === 503) {
      p.reject(
        new SlotwiseError(ErrorCode.NOT_FOUND, `publish to "${p.subject}": no stream captures this subject`, {
          details: { subject: p.subject, msgId: p.msgId },
        }),
      );
      return;
    }
    let reply: AckReply;
    try {
      reply = m.json<AckReply>();
    } catch (cause) {
      p.reject(this.#failed(p, "the acknowledgement is not JSON", cause));
      return;
    }
    if (reply.error !== undefined || typeof reply.stream !== "string" || typeof reply.seq !== "number") {
      const e = reply.error ?? {};
      const code =
        e.err_code === JS_ERR.MessageTooLarge ? ErrorCode.MESSAGE_TOO_LARGE : ErrorCode.PUBLISH_FAILED;
      p.reject(
        new SlotwiseError(code, `publish to "${p.subject}": ${e.description ?? "invalid acknowledgement"}`, {
          details: { subject: p.subject, msgId: p.msgId, apiCode: e.err_code, status: e.code },
        }),
      );
      return;
    }
    p.resolve({ stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true });
  };

  #failed(p: Pending, message: string, cause: unknown): SlotwiseError {
    return new SlotwiseError(ErrorCode.PUBLISH_FAILED, `publish to "${p.subject}": ${message}`, {
      cause,
      details: { subject: p.subject, msgId: p.msgId },
    });
  }

  #startSweeper(): void {
    // unref: the socket keeps the process alive while acknowledgements are due, not this timer
    this.#sweeper = setInterval(this.#sweep, PUBLISH_TIMEOUT_SWEEP_MS);
    this.#sweeper.unref();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  readonly #sweep = (): void => {
    const now = Date.now();
    const ordered = this.#uniformTimeout >= 0;
    for (const [token, p] of this.#pending) {
      if (p.deadline > now) {
        // one timeout for all: the map's insertion order is deadline order, the rest is later still
        if (ordered) break;
        continue;
      }
      this.#pending.delete(token);
      // Ambiguous: the stream may have stored it. A retry with the same msg id is safe.
      p.reject(
        new SlotwiseError(
          ErrorCode.TIMEOUT,
          `publish to "${p.subject}": no acknowledgement in ${p.timeoutMs} ms`,
          {
            details: { subject: p.subject, msgId: p.msgId, timeoutMs: p.timeoutMs },
          },
        ),
      );
    }
    if (this.#pending.size === 0) this.#stopSweeper();
  };
}
