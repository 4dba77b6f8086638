/**
 * The dead-letter sweeper: poison pills that kill or stall the consumer itself never reach the handler's last
 * attempt, so the handler never dead-letters them. The server gives up on them after `maxDeliver` and says so
 * in a max-deliveries advisory; the advisories are captured in a stream (so none is missed while no one
 * listens), and the sweeper dead-letters the message each one names.
 *
 * Layout (NATS 2.9 refuses streams with overlapping subjects, so there is one advisory stream per account):
 * - stream `SLOTWISE_ADVISORIES` capturing `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>`, created idempotently;
 * - per domain stream a durable `dlq-sweeper-{STREAM}` filtering `…MAX_DELIVERIES.{STREAM}.>` (wildcards are
 *   whole tokens, so the filter is per stream, not per env). Instances of every service on that stream share it.
 */
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import {
  MAX_DELIVERIES_ADVISORY_PREFIX,
  type ReceivedMessage,
  type StreamConfig,
  type Subscription,
  type Transport,
} from "../transport/index.js";
import { publishDeadLetter } from "./dead-letter.js";

export const ADVISORY_STREAM = "SLOTWISE_ADVISORIES";
/** Advisories are kept a week: long enough for a sweeper that was down to catch up. */
export const DEFAULT_ADVISORY_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
/** Pause before an advisory whose dead-lettering failed (DLQ unreachable, say) is tried again. */
export const DEFAULT_SWEEP_RETRY_MS = 1_000;
export const SWEEPER_DURABLE_PREFIX = "dlq-sweeper-";

/** The max-deliveries advisory, as the server (and the in-process transport) sends it. */
export interface MaxDeliveriesAdvisory {
  type: string;
  id: string;
  timestamp: string;
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

export interface AdvisoryStreamOptions {
  /** @default 1 */
  replicas?: number;
  /** @default 604800000 (a week) */
  maxAgeMs?: number;
}

/** The stream capturing every max-deliveries advisory of the account. */
export function advisoryStreamConfig(options: AdvisoryStreamOptions = {}): StreamConfig {
  return {
    name: ADVISORY_STREAM,
    subjects: [`${MAX_DELIVERIES_ADVISORY_PREFIX}.>`],
    replicas: options.replicas ?? 1,
    maxAgeMs: options.maxAgeMs ?? DEFAULT_ADVISORY_MAX_AGE_MS,
  };
}

/** Durable on `SLOTWISE_ADVISORIES` sweeping one domain stream's advisories. */
export function sweeperDurableFor(stream: string): string {
  return `${SWEEPER_DURABLE_PREFIX}${stream}`;
}

export function parseMaxDeliveriesAdvisory(data: Uint8Array): MaxDeliveriesAdvisory | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const a = parsed as Partial<MaxDeliveriesAdvisory>;
  if (typeof a.stream !== "string" || typeof a.consumer !== "string") return undefined;
  if (!Number.isSafeInteger(a.stream_seq) || (a.stream_seq as number) < 1) return undefined;
  return {
    type: String(a.type ?? ""),
    id: String(a.id ?? ""),
    timestamp: String(a.timestamp ?? ""),
    stream: a.stream,
    consumer: a.consumer,
    stream_seq: a.stream_seq as number,
    deliveries: Number.isSafeInteger(a.deliveries) ? (a.deliveries as number) : 0,
  };
}

/** What happened to one advisory. */
export type SweepOutcome =
  | {
      kind: "dead-lettered";
      advisory: MaxDeliveriesAdvisory;
      subject: string;
      duplicate: boolean;
      error: SlotwiseError;
    }
  /** The message is gone from its stream (deleted, aged out, or the stream was re-created since). */
  | { kind: "gone"; advisory: MaxDeliveriesAdvisory }
  | { kind: "invalid"; data: Uint8Array }
  /** Dead-lettering failed; the advisory is tried again after `retryMs`. */
  | { kind: "failed"; advisory: MaxDeliveriesAdvisory; error: unknown };

export interface DeadLetterSweeperOptions {
  transport: Transport;
  /** Domain streams whose consumers' advisories are swept. */
  streams: readonly string[];
  /** Create `SLOTWISE_ADVISORIES` when missing (else it must exist). @default true */
  provision?: boolean;
  /** Of the advisory stream, when it is created. @default 1 */
  replicas?: number;
  /** @default 1000 */
  retryMs?: number;
  /** Told of every advisory handled. Must not throw. */
  onSwept?: (outcome: SweepOutcome) => void;
}

/** Reason recorded on a dead letter the sweeper writes. */
export function maxDeliveriesError(advisory: MaxDeliveriesAdvisory): SlotwiseError {
  return new SlotwiseError(
    ErrorCode.MAX_DELIVERIES,
    `consumer ${advisory.consumer} received the message ${advisory.deliveries} times and never settled it: ` +
      "the consumer died or stalled before the handler's last attempt (max-deliveries advisory)",
    {
      details: {
        stream: advisory.stream,
        streamSequence: advisory.stream_seq,
        deliveries: advisory.deliveries,
      },
    },
  );
}

/**
 * Handles one advisory: fetches the original message and dead-letters it with MAX_DELIVERIES. The dead
 * letter's msg id is the one the handler's own last attempt would use, so the two never store it twice.
 */
export async function sweepAdvisory(
  transport: Transport,
  msg: ReceivedMessage,
  options: Pick<DeadLetterSweeperOptions, "retryMs" | "onSwept"> = {},
): Promise<void> {
  const report = (outcome: SweepOutcome) => {
    try {
      options.onSwept?.(outcome);
    } catch {
      // an observer's failure is not the sweeper's
    }
  };
  const advisory = parseMaxDeliveriesAdvisory(msg.data);
  if (advisory === undefined) {
    report({ kind: "invalid", data: msg.data });
    msg.ack();
    return;
  }
  try {
    const original = await transport.getMessage(advisory.stream, advisory.stream_seq);
    const advisedAt = Date.parse(advisory.timestamp);
    // A message stored after the advisory was sent is another one: the stream was re-created since.
    if (original === undefined || (!Number.isNaN(advisedAt) && original.timestamp.getTime() > advisedAt)) {
      report({ kind: "gone", advisory });
      msg.ack();
      return;
    }
    const error = maxDeliveriesError(advisory);
    const ack = await publishDeadLetter(transport, {
      subject: original.subject,
      data: original.data,
      headers: original.headers,
      stream: advisory.stream,
      streamSequence: advisory.stream_seq,
      consumer: advisory.consumer,
      deliveryCount: advisory.deliveries,
      error,
    });
    report({ kind: "dead-lettered", advisory, subject: original.subject, duplicate: ack.duplicate, error });
    msg.ack();
  } catch (error) {
    report({ kind: "failed", advisory, error });
    msg.nak(options.retryMs ?? DEFAULT_SWEEP_RETRY_MS);
  }
}

/**
 * Starts sweeping the advisories of `streams`: ensures the advisory stream (when `provision`) and one durable
 * per stream, and consumes them. Stop the returned subscription to end it.
 */
export async function startDeadLetterSweeper(options: DeadLetterSweeperOptions): Promise<Subscription> {
  const { transport } = options;
  if (options.provision ?? true) {
    await transport.ensureStream(advisoryStreamConfig({ replicas: options.replicas ?? 1 }));
  } else if ((await transport.streamInfo(ADVISORY_STREAM)) === undefined) {
    throw new SlotwiseError(
      ErrorCode.NOT_FOUND,
      `stream ${ADVISORY_STREAM} does not exist: create it, or let the sweeper provision it, or disable the sweeper`,
      { details: { stream: ADVISORY_STREAM } },
    );
  }
  const subs: Subscription[] = [];
  try {
    for (const stream of new Set(options.streams)) {
      const durable = sweeperDurableFor(stream);
      await transport.ensureConsumer({
        stream: ADVISORY_STREAM,
        durable,
        filterSubjects: [`${MAX_DELIVERIES_ADVISORY_PREFIX}.${stream}.>`],
        // Captured while no one listened: sweep them too (nothing is missed).
        deliverPolicy: "all",
        maxAckPending: 64,
      });
      subs.push(
        await transport.consume(
          { stream: ADVISORY_STREAM, durable },
          (msg) => sweepAdvisory(transport, msg, options),
          {
            maxInFlight: 16,
          },
        ),
      );
    }
  } catch (error) {
    await Promise.all(subs.map((s) => s.stop()));
    throw error;
  }
  return {
    stop: async () => {
      await Promise.all(subs.map((s) => s.stop()));
    },
    closed: Promise.all(subs.map((s) => s.closed)).then(() => {}),
  };
}
