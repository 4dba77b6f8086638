import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { ErrorCode, SlotwiseError } from "@slotwise/events";

/** Where the toolkit looks for NATS unless told otherwise. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
export const DEFAULT_CONNECTION_NAME = "slotwise";
/** -1: never give up reconnecting; a service outlives a broker restart. */
export const DEFAULT_MAX_RECONNECT_ATTEMPTS = -1;
export const DEFAULT_RECONNECT_TIME_WAIT_MS = 1_000;
export const DEFAULT_RECONNECT_JITTER_MS = 250;
/** nats.js pings every two minutes by default: a half-open socket would go unnoticed for four. */
export const DEFAULT_PING_INTERVAL_MS = 10_000;
export const DEFAULT_MAX_PING_OUT = 3;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export interface ReconnectOptions {
  /** Reconnect attempts per server before the connection closes for good; -1 for ever. @default -1 */
  maxAttempts?: number;
  /** Pause between attempts on one server. @default 1000 */
  timeWaitMs?: number;
  /** Random extra pause, so a fleet does not reconnect in lock step. @default 250 */
  jitterMs?: number;
  /** Keep trying when the server is down at start instead of failing `connect`. @default false */
  waitOnFirstConnect?: boolean;
  /** Client pings to detect a dead socket. @default 10000 */
  pingIntervalMs?: number;
  /** Unanswered pings before the connection counts as stale and reconnects. @default 3 */
  maxPingOut?: number;
}

export interface ConnectNatsOptions {
  /** One URL or several (a cluster). @default "nats://127.0.0.1:4222" */
  servers?: string | string[];
  /** Connection name the server shows in its monitoring. @default "slotwise" */
  name?: string;
  reconnect?: ReconnectOptions;
  /** How long the first connect may take. @default 5000 */
  timeoutMs?: number;
  /** Anything else nats.js accepts (TLS, credentials, …); wins over the fields above. @default {} */
  connectOptions?: Partial<NodeConnectionOptions>;
}

/** The nats.js connection options the toolkit uses, before `connectOptions` is merged over them. */
export function natsConnectionOptions(options: ConnectNatsOptions = {}): NodeConnectionOptions {
  const r = options.reconnect ?? {};
  return {
    servers: options.servers ?? DEFAULT_NATS_URL,
    name: options.name ?? DEFAULT_CONNECTION_NAME,
    reconnect: true,
    maxReconnectAttempts: r.maxAttempts ?? DEFAULT_MAX_RECONNECT_ATTEMPTS,
    reconnectTimeWait: r.timeWaitMs ?? DEFAULT_RECONNECT_TIME_WAIT_MS,
    reconnectJitter: r.jitterMs ?? DEFAULT_RECONNECT_JITTER_MS,
    waitOnFirstConnect: r.waitOnFirstConnect ?? false,
    pingInterval: r.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    maxPingOut: r.maxPingOut ?? DEFAULT_MAX_PING_OUT,
    timeout: options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...options.connectOptions,
  };
}

/** Opens a NATS connection with the toolkit's defaults; a failure is an UNAVAILABLE `SlotwiseError`. */
export async function connectNats(options: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const opts = natsConnectionOptions(options);
  try {
    return await connect(opts);
  } catch (cause) {
    throw new SlotwiseError(
      ErrorCode.UNAVAILABLE,
      `cannot connect to NATS at ${String(opts.servers)}: ${(cause as Error)?.message ?? String(cause)}`,
      { cause, details: { servers: opts.servers } },
    );
  }
}
