import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import { ErrorCode, isSlotwiseError, SlotwiseError } from "@slotwise/events";

/** JetStream API error codes the mapping names (nats-server's `errors.json`). */
export const JS_ERR = {
  ConsumerNotFound: JetStreamApiCodes.ConsumerNotFound,
  StreamNotFound: JetStreamApiCodes.StreamNotFound,
  NoMessageFound: JetStreamApiCodes.NoMessageFound,
  /** "stream name already in use with a different configuration" */
  StreamNameInUse: 10058,
  /** "no message found" / "stream store EOF" when deleting a message that is not there */
  StreamMsgDeleteFailed: 10057,
  /** "sequence N not found" (a memory stream's answer to deleting a missing message) */
  SequenceNotFound: 10043,
  /** "message size exceeds maximum allowed" */
  MessageTooLarge: 10054,
} as const;

function causeOf(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { cause?: unknown }).cause : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** nats.js reports "no responders" as a RequestError (core) or JetStreamNotEnabled (JetStream publish). */
export function isNoResponders(err: unknown): boolean {
  if (err instanceof errors.NoRespondersError) return true;
  if (err instanceof errors.RequestError && err.isNoResponders()) return true;
  const cause = causeOf(err);
  return cause !== undefined && cause !== err && isNoResponders(cause);
}

export function isTimeout(err: unknown): boolean {
  return err instanceof errors.TimeoutError || (err instanceof Error && err.name === "TimeoutError");
}

export function jsApiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

export function isStreamNotFound(err: unknown): boolean {
  return jsApiCode(err) === JS_ERR.StreamNotFound || messageOf(err) === "stream not found";
}

export function isConsumerNotFound(err: unknown): boolean {
  return jsApiCode(err) === JS_ERR.ConsumerNotFound || messageOf(err) === "consumer not found";
}

export interface MapContext {
  /** What was being done, for the message: `publish to "dev.booking.x.y.v1"`. */
  operation: string;
  /** The code of a failure no rule below recognises. */
  fallback: ErrorCode;
  /** What a "no responders" means here (a JetStream publish: no stream captures the subject). */
  noResponders?: { code: ErrorCode; message: string };
  details?: Record<string, unknown>;
}

/**
 * Turns whatever nats.js threw into a `SlotwiseError`, once, at the boundary. The original error stays as
 * `cause`; structured fields go in `details`.
 */
export function toSlotwiseError(err: unknown, ctx: MapContext): SlotwiseError {
  if (isSlotwiseError(err)) return err as SlotwiseError;
  const details: Record<string, unknown> = { ...ctx.details };
  const apiCode = jsApiCode(err);
  if (apiCode !== undefined) details.apiCode = apiCode;
  const make = (code: ErrorCode, message: string) =>
    new SlotwiseError(code, `${ctx.operation}: ${message}`, { cause: err, details });

  if (isTimeout(err)) return make(ErrorCode.TIMEOUT, "timed out");
  if (isNoResponders(err)) {
    const nr = ctx.noResponders ?? { code: ErrorCode.NO_RESPONDERS, message: "no responders" };
    return make(nr.code, nr.message);
  }
  if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError) {
    return make(ErrorCode.CLOSED, "the NATS connection is closed");
  }
  if (err instanceof errors.ConnectionError || messageOf(err) === "connection disconnected") {
    return make(ErrorCode.UNAVAILABLE, `NATS unavailable (${messageOf(err)})`);
  }
  if (err instanceof errors.RequestError) {
    const cause = causeOf(err);
    if (cause instanceof errors.ClosedConnectionError)
      return make(ErrorCode.CLOSED, "the NATS connection is closed");
    return make(ErrorCode.UNAVAILABLE, messageOf(err));
  }
  if (apiCode === JS_ERR.MessageTooLarge || /max_payload|maximum payload/i.test(messageOf(err))) {
    return make(ErrorCode.MESSAGE_TOO_LARGE, messageOf(err));
  }
  if (isStreamNotFound(err) || isConsumerNotFound(err)) return make(ErrorCode.NOT_FOUND, messageOf(err));
  if (
    err instanceof errors.InvalidArgumentError ||
    err instanceof errors.InvalidSubjectError ||
    (err instanceof Error && err.name === "InvalidNameError")
  ) {
    return make(ErrorCode.INVALID_OPTIONS, messageOf(err));
  }
  return make(ctx.fallback, messageOf(err));
}
