import { dlqSubjectFor } from "../envelope/index.js";
import { ErrorCode, isSlotwiseError, type SlotwiseError } from "../errors/index.js";
import type { Headers, PublishAck, Transport } from "../transport/index.js";

/** Headers a dead letter adds to the original ones. */
export const DLQ_HEADERS = {
  subject: "Slotwise-Dlq-Subject",
  stream: "Slotwise-Dlq-Stream",
  sequence: "Slotwise-Dlq-Sequence",
  consumer: "Slotwise-Dlq-Consumer",
  deliveries: "Slotwise-Dlq-Deliveries",
  code: "Slotwise-Dlq-Error-Code",
  message: "Slotwise-Dlq-Error-Message",
  time: "Slotwise-Dlq-Time",
} as const;

export interface DeadLetterInput {
  /** The original message, byte for byte. */
  subject: string;
  data: Uint8Array;
  headers: Headers;
  stream: string;
  streamSequence: number;
  consumer: string;
  deliveryCount: number;
  error: unknown;
}

export interface DeadLetter {
  /** Sequence of the dead letter in the DLQ stream. */
  seq: number;
  subject: string;
  data: Uint8Array;
  originalSubject: string;
  stream: string;
  streamSequence: number;
  consumer: string;
  deliveries: number;
  code: string;
  message: string;
  time: Date;
  /** The original headers, without the dead-letter ones. */
  headers: Record<string, string>;
}

/** Error code and message for a dead letter: a SlotwiseError's own code, else HANDLER_FAILED. */
export function describeError(error: unknown): { code: string; message: string } {
  if (isSlotwiseError(error)) return { code: (error as SlotwiseError).code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: ErrorCode.HANDLER_FAILED, message };
}

/** Header values must be one line of printable text. */
function headerValue(text: string, max = 1024): string {
  return text.replace(/[\r\n\t]+/g, " ").slice(0, max);
}

/**
 * Publishes a dead letter to `dlq.{original subject}` (captured by `{ENV}_DLQ`). Its msg id derives from
 * (stream, sequence, consumer), so dead-lettering one delivery twice (last attempt and the max-deliveries
 * advisory, say) stores it once.
 */
export function publishDeadLetter(transport: Transport, input: DeadLetterInput): Promise<PublishAck> {
  const { code, message } = describeError(input.error);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) {
    if (k !== "Nats-Msg-Id") headers[k] = v;
  }
  headers[DLQ_HEADERS.subject] = input.subject;
  headers[DLQ_HEADERS.stream] = input.stream;
  headers[DLQ_HEADERS.sequence] = String(input.streamSequence);
  headers[DLQ_HEADERS.consumer] = input.consumer;
  headers[DLQ_HEADERS.deliveries] = String(input.deliveryCount);
  headers[DLQ_HEADERS.code] = code;
  headers[DLQ_HEADERS.message] = headerValue(message);
  headers[DLQ_HEADERS.time] = new Date().toISOString();
  return transport.publish({
    subject: dlqSubjectFor(input.subject),
    data: input.data,
    headers,
    msgId: `dlq:${input.stream}:${input.streamSequence}:${input.consumer}`,
  });
}

/** Reads a stored DLQ message back into a `DeadLetter`. */
export function toDeadLetter(stored: {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  timestamp: Date;
}): DeadLetter {
  const h = stored.headers;
  const original: Record<string, string> = {};
  const own = new Set<string>(Object.values(DLQ_HEADERS));
  for (const [k, v] of Object.entries(h)) if (!own.has(k)) original[k] = v;
  return {
    seq: stored.seq,
    subject: stored.subject,
    data: stored.data,
    originalSubject: h[DLQ_HEADERS.subject] ?? stored.subject.replace(/^dlq\./, ""),
    stream: h[DLQ_HEADERS.stream] ?? "",
    streamSequence: Number(h[DLQ_HEADERS.sequence] ?? 0),
    consumer: h[DLQ_HEADERS.consumer] ?? "",
    deliveries: Number(h[DLQ_HEADERS.deliveries] ?? 0),
    code: h[DLQ_HEADERS.code] ?? "",
    message: h[DLQ_HEADERS.message] ?? "",
    time: h[DLQ_HEADERS.time] !== undefined ? new Date(h[DLQ_HEADERS.time] as string) : stored.timestamp,
    headers: original,
  };
}
