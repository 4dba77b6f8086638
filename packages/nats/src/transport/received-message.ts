import type { JsMsg } from "@nats-io/jetstream";
import type { Headers, ReceivedMessage } from "@slotwise/events";
import { fromNatsHeaders } from "./config.js";

/** The consume loop a message belongs to. */
export interface SettleOwner {
  /** False once the transport closed under the handler: the message can no longer be settled. */
  readonly live: boolean;
  /** The server understands `+TERM <reason>` (2.10 on); an older one ignores it, so send a bare `+TERM`. */
  readonly termWithReason: boolean;
  /** Called once per message when it is settled (ack, nak or term), by the handler or by the loop. */
  settled(): void;
  /** Sends the message's ack (through the loop's batched ack writer where there is one). May throw when closed. */
  ack(m: JsMsg): void;
}

/**
 * A delivered JetStream message behind our `ReceivedMessage`. Headers and delivery info are read lazily:
 * most handlers never look at most of them. Settling twice is ignored, and settling after the connection
 * closed is a no-op (the server redelivers after the ack wait, as it would for a dead process).
 */
export class NatsReceivedMessage implements ReceivedMessage {
  readonly #m: JsMsg;
  readonly #owner: SettleOwner;
  #headers: Headers | undefined;
  settled = false;

  constructor(m: JsMsg, owner: SettleOwner) {
    this.#m = m;
    this.#owner = owner;
  }

  get subject(): string {
    return this.#m.subject;
  }
  get data(): Uint8Array {
    return this.#m.data;
  }
  get headers(): Headers {
    if (this.#headers === undefined) this.#headers = fromNatsHeaders(this.#m.headers);
    return this.#headers;
  }
  get stream(): string {
    return this.#m.info.stream;
  }
  get streamSequence(): number {
    return this.#m.info.streamSequence;
  }
  /** The ack subject's delivery count: 1 on the first delivery. */
  get deliveryCount(): number {
    return this.#m.info.deliveryCount;
  }
  get timestamp(): Date {
    // Nanoseconds since the epoch lose sub-microsecond precision in a double; milliseconds are exact enough.
    return new Date(Math.floor(this.#m.info.timestampNanos / 1_000_000));
  }
  get pending(): number {
    return this.#m.info.pending;
  }

  // Each settle is written out (no shared helper taking a closure): `ack` runs once per message.
  ack(): void {
    if (!this.#begin()) return;
    try {
      this.#owner.ack(this.#m);
    } catch {
      // the connection closed meanwhile: redelivered after the ack wait
    }
    this.#owner.settled();
  }
  nak(delayMs?: number): void {
    if (!this.#begin()) return;
    try {
      this.#m.nak(delayMs !== undefined && delayMs > 0 ? delayMs : undefined);
    } catch {
      // the connection closed meanwhile: redelivered after the ack wait
    }
    this.#owner.settled();
  }
  working(): void {
    if (this.settled || !this.#owner.live) return;
    try {
      this.#m.working();
    } catch {
      // connection closed: nothing to extend
    }
  }
  term(reason?: string): void {
    if (!this.#begin()) return;
    try {
      this.#m.term(this.#owner.termWithReason ? reason : undefined);
    } catch {
      // the connection closed meanwhile: redelivered after the ack wait
    }
    this.#owner.settled();
  }

  /** Marks the message settled; false when it already was, or can no longer be (then nothing is sent). */
  #begin(): boolean {
    if (this.settled) return false;
    this.settled = true;
    // Closed under a running handler: like a dead process, the server redelivers after the ack wait.
    return this.#owner.live;
  }
}
