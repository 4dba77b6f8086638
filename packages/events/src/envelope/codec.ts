import { EnvelopeError, ErrorCode } from "../errors/index.js";
import { type CloudEvent, toCloudEvent, toWireObject } from "./cloud-event.js";

export const DEFAULT_MAX_EVENT_BYTES = 512 * 1024;
export const DEFAULT_MAX_JSON_DEPTH = 64;

export interface DecodeOptions {
  /** Larger messages fail with MESSAGE_TOO_LARGE. @default 524288 (512 KiB) */
  maxBytes?: number;
  /** Deeper JSON fails with TOO_DEEP before it is parsed. @default 64 */
  maxDepth?: number;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function encodeEvent(event: CloudEvent): Uint8Array {
  return encoder.encode(JSON.stringify(toWireObject(event)));
}

/**
 * Whether the text holds more than `limit` opening brackets (`{` or `[`), in strings or not. Nesting can
 * only be deeper than `limit` when this holds, and a typical event has a handful, so a few native
 * `indexOf` runs on the decoded text stand in for the byte-by-byte scan below on the hot path.
 */
function manyOpeners(text: string, limit: number): boolean {
  let count = 0;
  for (let i = text.indexOf("{"); i !== -1; i = text.indexOf("{", i + 1)) {
    if (++count > limit) return true;
  }
  for (let i = text.indexOf("["); i !== -1; i = text.indexOf("[", i + 1)) {
    if (++count > limit) return true;
  }
  return false;
}

/**
 * Depth of JSON nesting, counted on the bytes outside strings, so a hostile 10,000-deep document is
 * refused without ever being parsed. Returns early once `limit` is exceeded.
 */
function exceedsDepth(bytes: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > limit) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

/** Parses wire bytes into a plain object, checking size, encoding, depth and JSON. */
export function parseEventBytes(bytes: Uint8Array, options: DecodeOptions = {}): Record<string, unknown> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (bytes.length > maxBytes) {
    throw new EnvelopeError(
      ErrorCode.MESSAGE_TOO_LARGE,
      "data",
      `message of ${bytes.length} bytes exceeds the limit of ${maxBytes}`,
      { details: { size: bytes.length, limit: maxBytes } },
    );
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new EnvelopeError(ErrorCode.INVALID_ENCODING, "data", "message is not valid UTF-8", { cause });
  }
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (manyOpeners(text, maxDepth) && exceedsDepth(bytes, maxDepth)) {
    throw new EnvelopeError(ErrorCode.TOO_DEEP, "data", `JSON is nested deeper than ${maxDepth} levels`, {
      details: { limit: maxDepth },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new EnvelopeError(ErrorCode.NOT_JSON, "data", `message is not JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new EnvelopeError(ErrorCode.NOT_AN_OBJECT, "data", "message is JSON but not an object");
  }
  return parsed as Record<string, unknown>;
}

/** Decodes and validates the envelope (not `data`: the registry does that). */
export function decodeEvent(bytes: Uint8Array, options: DecodeOptions = {}): CloudEvent {
  return toCloudEvent(parseEventBytes(bytes, options));
}
