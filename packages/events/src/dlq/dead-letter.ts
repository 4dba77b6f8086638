/**
 * The dead-letter record: the original message byte for byte, with its headers, plus headers saying where it
 * came from and why it failed. Stored in `{ENV}_DLQ` under `dlq.{original subject}`.
 */
import { dlqSubjectFor } from "../envelope/index.js";
import { ErrorCode, isSlotwiseError } from "../errors/index.js";
import { type Headers, MSG_ID_HEADER, type PublishAck, type Transport } from "../transport/index.js";

/** Headers a dead letter adds to the original ones. */
export const DLQ_HEADERS = {
  subject: "Slotwise-Dlq-Subject",
  stream: "Slotwise-Dlq-Stream",
  sequence: "Slotwise-Dlq-Sequence",
  consumer: "Slotwise-Dlq-Consumer",
  deliveries: "Slotwise-Dlq-Deliveries",
  code: "Slotwise-Dlq-Error-Code",
  message: "Slotwise-Dlq-Error-Message",
  /** The envelope attribute at fault (`type`, `data.bookingId`, …), when the error names one. */
  attribute: "Slotwise-Dlq-Error-Attribute",
  time: "Slotwise-Dlq-Time",
} as const;

const OWN_HEADERS: ReadonlySet<string> = new Set<string>(Object.values(DLQ_HEADERS));

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
  /** Its subject in the DLQ stream: `dlq.{originalSubject}`. */
  subject: string;
  /** The original bytes. */
  data: Uint8Array;
  originalSubject: string;
  /** Stream and sequence of the original message. */
  stream: string;
  streamSequence: number;
  consumer: string;
  deliveries: number;
  code: string;
  message: string;
  /** The envelope attribute at fault, when the error named one. */
  attribute?: string;
  time: Date;
  /** The original headers, without the dead-letter ones. */
  headers: Record<string, string>;
}

/** Error code, message and attribute of a dead letter: a SlotwiseError's own, else HANDLER_FAILED. */
export function describeError(error: unknown): { code: string; message: string; attribute?: string } {
  if (isSlotwiseError(error)) {
    const attribute = error.details?.attribute;
    return {
      code: error.code,
      message: error.message,
      ...(typeof attribute === "string" ? { attribute } : {}),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: ErrorCode.HANDLER_FAILED, message };
}

/** Header values must be one line of printable text. */
function headerValue(text: string, max = 1024): string {
  return text.replace(/[\r\n\t]+/g, " ").slice(0, max);
}

/** The msg id of a dead letter: one per (stream, sequence, consumer), whoever dead-letters it. */
export function deadLetterMsgId(stream: string, streamSequence: number, consumer: string): string {
  return `dlq:${stream}:${streamSequence}:${consumer}`;
}

/**
 * Publishes a dead letter to `dlq.{original subject}` (captured by `{ENV}_DLQ`). Its msg id derives from
 * (stream, sequence, consumer), so dead-lettering one delivery twice (the handler's last attempt and the
 * max-deliveries advisory, say) stores it once.
 */
export function publishDeadLetter(transport: Transport, input: DeadLetterInput): Promise<PublishAck> {
  const { code, message, attribute } = describeError(input.error);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) {
    if (k !== MSG_ID_HEADER && !OWN_HEADERS.has(k)) headers[k] = v;
  }
  headers[DLQ_HEADERS.subject] = input.subject;
  headers[DLQ_HEADERS.stream] = input.stream;
  headers[DLQ_HEADERS.sequence] = String(input.streamSequence);
  headers[DLQ_HEADERS.consumer] = input.consumer;
  headers[DLQ_HEADERS.deliveries] = String(input.deliveryCount);
  headers[DLQ_HEADERS.code] = code;
  headers[DLQ_HEADERS.message] = headerValue(message);
  if (attribute !== undefined) headers[DLQ_HEADERS.attribute] = headerValue(attribute, 256);
  headers[DLQ_HEADERS.time] = new Date().toISOString();
  return transport.publish({
    subject: dlqSubjectFor(input.subject),
    data: input.data,
    headers,
    msgId: deadLetterMsgId(input.stream, input.streamSequence, input.consumer),
  });
}

/** The original headers of a stored dead letter: without the dead-letter ones and without its msg id. */
export function originalHeaders(headers: Headers): Record<string, string> {
  const original: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!OWN_HEADERS.has(k) && k !== MSG_ID_HEADER) original[k] = v;
  }
  return original;
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
  const attribute = h[DLQ_HEADERS.attribute];
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
    ...(attribute !== undefined ? { attribute } : {}),
    time: h[DLQ_HEADERS.time] !== undefined ? new Date(h[DLQ_HEADERS.time] as string) : stored.timestamp,
    headers: originalHeaders(h),
  };
}
