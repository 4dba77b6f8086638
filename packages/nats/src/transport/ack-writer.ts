import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Writes the acks of one event-loop turn as one protocol command.
 *
 * `JsMsg.ack()` publishes through nats.js, which builds each message's protocol line as a string and
 * encodes it into a freshly allocated `Uint8Array` (measured at about 1.3 µs an ack here, more than the
 * rest of the ack path together). Every ack is the same command, `PUB <reply> 4\r\n+ACK\r\n`, so the
 * writer copies the reply subjects into one reused buffer and hands the connection's protocol handler
 * the whole turn's acks as bytes, once. The server sees exactly what `ack()` would have sent.
 *
 * The ack subject is copied as the bytes nats.js received (`ackSubjectOf`), so it is never decoded.
 *
 * This reaches past nats.js's public API (`NatsConnectionImpl.protocol`, exported to nats.js's own
 * modules through `@nats-io/nats-core/internal`, and a received message's raw fields; the version is
 * pinned). Both are feature-detected: `createAckWriter` returns undefined without the first, and acks then
 * go through `JsMsg.ack()`; `ack-writer.int.test.ts` fails if the pinned nats.js stops offering either.
 */
export interface AckWriter {
  /** Queues `+ACK` to the ack subject for this turn's write; nothing when the connection is closed. */
  ack(subject: Uint8Array | string): void;
  /** Hands the queued acks to the connection now (also done by itself at the end of the turn). */
  flush(): void;
}

/** The slice of nats.js's connection internals the writer uses. */
interface ProtocolInternals {
  sendCommand(cmd: Uint8Array): void;
  outMsgs: number;
  outBytes: number;
}

const PUB = Buffer.from("PUB ");
const ACK_TAIL = Buffer.from(" 4\r\n+ACK\r\n");
/** Payload bytes of one ack, for the connection's `outBytes` statistic. */
const ACK_PAYLOAD_BYTES = 4;
/** Room for a few hundred acks: one command per turn at the consumer's default batch. */
const INITIAL_BYTES = 64 * 1024;

/**
 * A delivery's ack subject: the bytes nats.js parsed it from (`MsgImpl._msg.reply`) where the message
 * exposes them, else the public string (`JsMsgImpl.reply`, decoded on first read), else undefined.
 */
export function ackSubjectOf(m: JsMsg): Uint8Array | string | undefined {
  const raw = (m as { msg?: { _msg?: { reply?: unknown } } }).msg?._msg?.reply;
  if (raw instanceof Uint8Array && raw.length > 0) return raw;
  const reply = (m as { reply?: unknown }).reply;
  return typeof reply === "string" && reply !== "" ? reply : undefined;
}

function protocolOf(nc: NatsConnection): ProtocolInternals | undefined {
  const protocol = (nc as { protocol?: Partial<ProtocolInternals> }).protocol;
  if (
    protocol === undefined ||
    typeof protocol.sendCommand !== "function" ||
    typeof protocol.outMsgs !== "number" ||
    typeof protocol.outBytes !== "number"
  ) {
    return undefined;
  }
  return protocol as ProtocolInternals;
}

export function createAckWriter(nc: NatsConnection): AckWriter | undefined {
  const protocol = protocolOf(nc);
  return protocol === undefined ? undefined : new BatchedAckWriter(nc, protocol);
}

class BatchedAckWriter implements AckWriter {
  readonly #nc: NatsConnection;
  readonly #protocol: ProtocolInternals;
  /** Allocated at the first ack: a transport that never consumes holds none. */
  #buffer = Buffer.alloc(0);
  #used = 0;
  #count = 0;
  #scheduled = false;
  readonly #flushTask = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(nc: NatsConnection, protocol: ProtocolInternals) {
    this.#nc = nc;
    this.#protocol = protocol;
  }

  ack(subject: Uint8Array | string): void {
    // Closed: like a dead process, the server redelivers after the ack wait.
    if (this.#nc.isClosed()) return;
    // A string in UTF-8 takes at most 3 bytes per UTF-16 unit.
    const bytes = typeof subject === "string" ? subject.length * 3 : subject.length;
    const room = PUB.length + bytes + ACK_TAIL.length;
    if (this.#used + room > this.#buffer.length) this.#grow(room);
    const b = this.#buffer;
    let at = this.#used;
    // `set`, not `Buffer#copy`: that one makes a view of its source on every call.
    b.set(PUB, at);
    at += PUB.length;
    if (typeof subject === "string") at += b.write(subject, at);
    else {
      b.set(subject, at);
      at += subject.length;
    }
    b.set(ACK_TAIL, at);
    this.#used = at + ACK_TAIL.length;
    this.#count++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  flush(): void {
    if (this.#used === 0) return;
    // The protocol handler keeps the bytes until its own flush: hand it a copy, and reuse the buffer.
    const out = Buffer.from(this.#buffer.subarray(0, this.#used));
    const count = this.#count;
    this.#used = 0;
    this.#count = 0;
    if (this.#nc.isClosed()) return;
    this.#protocol.outMsgs += count;
    this.#protocol.outBytes += count * ACK_PAYLOAD_BYTES;
    this.#protocol.sendCommand(out);
  }

  #grow(room: number): void {
    if (this.#used > 0) this.flush();
    if (room > this.#buffer.length) {
      this.#buffer = Buffer.allocUnsafe(Math.max(room, INITIAL_BYTES, this.#buffer.length * 2));
    }
  }
}
