/**
 * The in-process transport: JetStream's semantics (streams, durable consumers, explicit ack, nak with delay,
 * redelivery after ack wait, max deliveries with the advisory, duplicate window) and core pub/sub, queue
 * groups and request-reply, with no server. For the embedded default and fast tests.
 *
 * ```ts
 * const broker = createMemoryBroker();
 * const orders = broker.connect();   // one service
 * const billing = broker.connect();  // another, on the same "server"
 * ```
 */
import type { Transport } from "../transport.js";
import { Broker, type MemoryBrokerOptions as BrokerOptions } from "./broker.js";
import { type CoreErrorListener, MemoryConnection } from "./connection.js";

export { DEFAULT_MAX_PAYLOAD } from "./broker.js";
export { DEFAULT_MAX_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT_MS } from "./connection.js";
export {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_ACK_PENDING,
  DEFAULT_MAX_DELIVER,
  MAX_DELIVERIES_ADVISORY_PREFIX,
  MAX_DELIVERIES_ADVISORY_TYPE,
} from "./consumer.js";
export { DEFAULT_DUPLICATE_WINDOW_MS } from "./stream.js";

export interface MemoryBrokerOptions extends BrokerOptions {
  /** Called when a core subscription's handler throws or rejects. @default ignores the error */
  onCoreHandlerError?: CoreErrorListener;
}

/** An in-process "server"; each `connect()` is an independent client of it. */
export interface MemoryBroker {
  /** A new connection: its own subscriptions, closed on its own (abruptly, like a dying process). */
  connect(): Transport;
  /** Closes every connection and drops every stream; clears every timer. Idempotent. */
  close(): Promise<void>;
}

export function createMemoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  const broker = new Broker(options);
  const onError: CoreErrorListener = options.onCoreHandlerError ?? (() => undefined);
  return {
    connect: () => new MemoryConnection(broker, onError),
    close: () => broker.close(),
  };
}

/** A new broker with one connection; closing the connection closes the broker. */
export function createMemoryTransport(options: MemoryBrokerOptions = {}): Transport {
  const broker = new Broker(options);
  return new MemoryConnection(broker, options.onCoreHandlerError ?? (() => undefined), () => broker.close());
}
