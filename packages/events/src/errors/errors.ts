/**
 * Every failure the toolkit reports is a `SlotwiseError` with a stable string `code`.
 * Codes survive duplicated packages and the wire, where `instanceof` does not: test with
 * `isSlotwiseError(err, "CODE")`.
 */
export const ErrorCode = {
  /** An envelope attribute is missing or malformed (creation or decoding). */
  INVALID_ENVELOPE: "INVALID_ENVELOPE",
  /** The bytes are not JSON. */
  NOT_JSON: "NOT_JSON",
  /** The bytes are JSON, but not a JSON object (an array, a string, a number, `null`). */
  NOT_AN_OBJECT: "NOT_AN_OBJECT",
  /** The bytes are not valid UTF-8. */
  INVALID_ENCODING: "INVALID_ENCODING",
  /** `specversion` is not "1.0". */
  UNSUPPORTED_SPECVERSION: "UNSUPPORTED_SPECVERSION",
  /** The event type name breaks `{domain}.{entity}.{action}.v{N}`. */
  INVALID_EVENT_TYPE: "INVALID_EVENT_TYPE",
  /** No schema is registered for the event type. */
  UNKNOWN_EVENT_TYPE: "UNKNOWN_EVENT_TYPE",
  /** The type is known, but not the schema version of its data. */
  UNKNOWN_EVENT_VERSION: "UNKNOWN_EVENT_VERSION",
  /** `data` fails the schema registered for its type and version. */
  SCHEMA_VIOLATION: "SCHEMA_VIOLATION",
  /** The message is larger than the configured limit. */
  MESSAGE_TOO_LARGE: "MESSAGE_TOO_LARGE",
  /** JSON nested deeper than the configured limit. */
  TOO_DEEP: "TOO_DEEP",
  /** A NATS subject breaks `{env}.{type}` or names an unknown environment. */
  INVALID_SUBJECT: "INVALID_SUBJECT",
  /** An append's expected version does not match the stream. */
  CONCURRENCY_CONFLICT: "CONCURRENCY_CONFLICT",
  /** The store already holds an event with this id (`details.eventId`). */
  DUPLICATE_EVENT: "DUPLICATE_EVENT",
  /**
   * A log checkpoint lies ahead of the store (e.g. a database restored onto a new cluster): the reader
   * would silently skip events. `details.remedy` says what to do.
   */
  INVALID_CHECKPOINT: "INVALID_CHECKPOINT",
  /** This implementation does not offer the operation (e.g. SQL on the in-process store). */
  UNSUPPORTED: "UNSUPPORTED",
  /**
   * A command breaks a domain invariant (`details.rule` names it, e.g. BOOKING_ALREADY_CANCELLED).
   * Not permanent: the state may change (a confirm handled before its create), so a retry can succeed.
   */
  DOMAIN_RULE_VIOLATED: "DOMAIN_RULE_VIOLATED",
  /** A service may not publish or receive this event type or resource. */
  UNAUTHORIZED: "UNAUTHORIZED",
  /** An encrypted event cannot be decrypted (unknown key, tampered, shredded). */
  DECRYPT_FAILED: "DECRYPT_FAILED",
  /** A request, publish or operation did not finish in time. */
  TIMEOUT: "TIMEOUT",
  /** No one answered a request. */
  NO_RESPONDERS: "NO_RESPONDERS",
  /** A handler threw; the message is retried. */
  HANDLER_FAILED: "HANDLER_FAILED",
  /** The handler kept failing until its last delivery. */
  MAX_DELIVERIES: "MAX_DELIVERIES",
  /** Options contradict each other or are out of range. */
  INVALID_OPTIONS: "INVALID_OPTIONS",
  /** A name (handler, durable, stream) is used twice. */
  DUPLICATE_NAME: "DUPLICATE_NAME",
  /** A stream or consumer that must exist does not. */
  NOT_FOUND: "NOT_FOUND",
  /** The connection, transport or store is closed. */
  CLOSED: "CLOSED",
  /** The broker or database could not be reached; the operation may be retried. */
  UNAVAILABLE: "UNAVAILABLE",
  /** A publish failed at the broker. */
  PUBLISH_FAILED: "PUBLISH_FAILED",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface SlotwiseErrorOptions {
  cause?: unknown;
  /** Structured fields that explain the failure (attribute, expected, actual, …). */
  details?: Record<string, unknown>;
}

export class SlotwiseError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: SlotwiseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SlotwiseError";
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** An envelope attribute is missing or invalid; `attribute` names it. */
export class EnvelopeError extends SlotwiseError {
  readonly attribute: string;
  constructor(code: ErrorCode, attribute: string, message: string, options: SlotwiseErrorOptions = {}) {
    super(code, message, { ...options, details: { attribute, ...options.details } });
    this.name = "EnvelopeError";
    this.attribute = attribute;
  }
}

/** An append found the stream at another version than the caller expected. */
export class ConcurrencyError extends SlotwiseError {
  readonly streamId: string;
  readonly expected: ExpectedVersionLike;
  readonly actual: number;
  constructor(
    streamId: string,
    expected: ExpectedVersionLike,
    actual: number,
    options: SlotwiseErrorOptions = {},
  ) {
    super(
      ErrorCode.CONCURRENCY_CONFLICT,
      `stream "${streamId}" is at version ${actual}, expected ${String(expected)}`,
      { ...options, details: { streamId, expected, actual } },
    );
    this.name = "ConcurrencyError";
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Mirrors the store's ExpectedVersion without importing it (errors sit below every other folder). */
export type ExpectedVersionLike = number | "any" | "no-stream";

export function isSlotwiseError(err: unknown, code?: ErrorCode): err is SlotwiseError {
  if (typeof err !== "object" || err === null) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== "string" || !(c in ErrorCode)) return false;
  return code === undefined || c === code;
}

/**
 * Codes of errors that no retry can fix: the message is dead-lettered at once.
 * Every other error (a handler's own, a timeout, a lost connection) is retried with backoff.
 */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.INVALID_ENVELOPE,
  ErrorCode.NOT_JSON,
  ErrorCode.NOT_AN_OBJECT,
  ErrorCode.INVALID_ENCODING,
  ErrorCode.UNSUPPORTED_SPECVERSION,
  ErrorCode.INVALID_EVENT_TYPE,
  ErrorCode.UNKNOWN_EVENT_TYPE,
  ErrorCode.UNKNOWN_EVENT_VERSION,
  ErrorCode.SCHEMA_VIOLATION,
  ErrorCode.MESSAGE_TOO_LARGE,
  ErrorCode.TOO_DEEP,
  ErrorCode.INVALID_SUBJECT,
  ErrorCode.UNAUTHORIZED,
  ErrorCode.DECRYPT_FAILED,
]);

/** The one place that decides between retry and dead letter. */
export function isPermanent(err: unknown): boolean {
  return isSlotwiseError(err) && PERMANENT.has(err.code);
}
