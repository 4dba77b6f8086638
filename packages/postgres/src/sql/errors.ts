import { ErrorCode, isSlotwiseError, SlotwiseError } from "@slotwise/events";

/** Node socket errors that mean the database could not be reached or the connection broke. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
]);

/** SQLSTATEs after which the operation may succeed on another connection or later. */
const UNAVAILABLE_STATES = new Set([
  "57P01", // admin_shutdown (pg_terminate_backend)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovering)
  "53300", // too_many_connections
]);

const LOST_CONNECTION =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed|terminating connection/i;

/** The SQLSTATE of a database error (node-postgres and PGlite both expose it as `code`). */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function constraintOf(err: unknown): string | undefined {
  const c = (err as { constraint?: unknown } | null)?.constraint;
  return typeof c === "string" ? c : undefined;
}

/** Whether a driver error means the connection is gone (retry elsewhere or later). */
export function isConnectionLoss(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    if (SOCKET_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith("08")) return true;
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === "string" && LOST_CONNECTION.test(message);
}

/**
 * The one place where a driver error becomes ours: a lost connection is UNAVAILABLE (retryable), every
 * other error passes through for the caller to interpret (constraint violations are the store's business).
 */
export function toStoreError(err: unknown): unknown {
  if (isSlotwiseError(err)) return err;
  if (isConnectionLoss(err)) {
    return new SlotwiseError(
      ErrorCode.UNAVAILABLE,
      `the database is unavailable: ${(err as Error).message ?? String(err)}`,
      { cause: err, details: { sqlState: sqlState(err) ?? (err as { code?: unknown }).code } },
    );
  }
  return err;
}
