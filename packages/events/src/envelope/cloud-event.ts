import { randomUUID } from "node:crypto";
import { currentEventContext } from "../context/index.js";
import { EnvelopeError, ErrorCode } from "../errors/index.js";
import { parseEventType } from "./naming.js";

export const SPEC_VERSION = "1.0";
export const JSON_CONTENT_TYPE = "application/json";
/** Content-Type of a structured-mode CloudEvent on NATS. */
export const CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json";

/**
 * A CloudEvents 1.0 event with the SlotWise extensions. On the wire each `metadata` entry is an extension
 * attribute of its own (CloudEvents has no map type); in memory it is gathered back into `metadata`.
 */
export interface CloudEvent<T = unknown> {
  readonly id: string;
  /** The service that produced the event, e.g. `booking-service`. */
  readonly source: string;
  readonly specversion: typeof SPEC_VERSION;
  /** `{domain}.{entity}.{action}.v{N}` */
  readonly type: string;
  /** The resource the event is about (aggregate id): events with one subject are handled in order. */
  readonly subject: string;
  /** RFC 3339. */
  readonly time: string;
  readonly datacontenttype: string;
  readonly data: T;
  readonly correlationid: string;
  readonly causationid?: string;
  /** Schema version of `data`, `MAJOR.MINOR`; MAJOR equals the `vN` of `type`. */
  readonly version: string;
  /** W3C trace context (CloudEvents distributed-tracing extension). */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** Additional string attributes; keys `[a-z0-9]{1,20}`. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface CreateEventInput<T = unknown> {
  type: string;
  source: string;
  subject: string;
  data: T;
  /** @default a random UUID */
  id?: string;
  /** @default now */
  time?: string | Date;
  /** @default "application/json" */
  datacontenttype?: string;
  /** @default the correlation id of the event being handled, else this event's id */
  correlationid?: string;
  /** @default the id of the event being handled, if any */
  causationid?: string;
  /** @default `${N}.0` where `vN` ends the type */
  version?: string;
  metadata?: Record<string, string>;
  traceparent?: string;
  tracestate?: string;
}

/** Attribute names a metadata key may not take. */
export const RESERVED_ATTRIBUTES: ReadonlySet<string> = new Set([
  "id",
  "source",
  "specversion",
  "type",
  "subject",
  "time",
  "datacontenttype",
  "dataschema",
  "data",
  "data_base64",
  "correlationid",
  "causationid",
  "version",
  "traceparent",
  "tracestate",
  "metadata",
]);

const METADATA_KEY = /^[a-z0-9]{1,20}$/;
const VERSION = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;

/** The digit at `i` of `s` as a number, or -100 when there is none (so any sum with it stays negative). */
function digitAt(s: string, i: number): number {
  const d = s.charCodeAt(i) - 48; // NaN past the end: both comparisons fail
  return d >= 0 && d <= 9 ? d : -100;
}

/** The two digits at `i` of `s` as a number, negative unless both are digits. */
function twoDigitsAt(s: string, i: number): number {
  return digitAt(s, i) * 10 + digitAt(s, i + 1);
}

/**
 * Whether `s` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` and `Z` in either
 * case, seconds up to 60 (a leap second). It accepts the same strings as the regular expression it
 * replaced, which `envelope.test.ts` keeps as the grammar and holds it to; read char by char, because every
 * event's `time` passes here and the regular expression cost several times more.
 */
export function isRfc3339(s: string): boolean {
  const n = s.length;
  if (n < 20 || twoDigitsAt(s, 0) < 0 || twoDigitsAt(s, 2) < 0) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false; // -
  const month = twoDigitsAt(s, 5);
  const day = twoDigitsAt(s, 8);
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  const t = s.charCodeAt(10);
  if (t !== 84 && t !== 116) return false; // T t
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false; // :
  const hour = twoDigitsAt(s, 11);
  const minute = twoDigitsAt(s, 14);
  const second = twoDigitsAt(s, 17);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return false;
  let i = 19;
  if (s.charCodeAt(i) === 46) {
    // . and at least one digit
    const first = ++i;
    while (digitAt(s, i) >= 0) i++;
    if (i === first) return false;
  }
  const zone = s.charCodeAt(i);
  if (zone === 90 || zone === 122) return i + 1 === n; // Z z
  if ((zone !== 43 && zone !== 45) || i + 6 !== n || s.charCodeAt(i + 3) !== 58) return false; // + - :
  const offsetHour = twoDigitsAt(s, i + 1);
  const offsetMinute = twoDigitsAt(s, i + 4);
  return offsetHour >= 0 && offsetHour <= 23 && offsetMinute >= 0 && offsetMinute <= 59;
}

function invalid(attribute: string, message: string, value?: unknown): EnvelopeError {
  return new EnvelopeError(ErrorCode.INVALID_ENVELOPE, attribute, message, {
    details: value === undefined ? {} : { value },
  });
}

function requireString(obj: Record<string, unknown>, attribute: string): string {
  const v = obj[attribute];
  if (typeof v !== "string" || v === "") throw notAString(attribute, v);
  return v;
}

function optionalString(obj: Record<string, unknown>, attribute: string): string | undefined {
  const v = obj[attribute];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw notANonEmptyString(attribute, v);
  return v;
}

/** A required attribute's error for a value that is not a non-empty string. */
function notAString(attribute: string, v: unknown): EnvelopeError {
  if (v === undefined || v === null || v === "") {
    return invalid(attribute, `attribute '${attribute}' is required`);
  }
  return invalid(attribute, `attribute '${attribute}' must be a string`, v);
}

/** An optional attribute's error for a value that is not a non-empty string. */
function notANonEmptyString(attribute: string, v: unknown): EnvelopeError {
  return invalid(attribute, `attribute '${attribute}' must be a non-empty string`, v);
}

/** The last version that passed `checkVersion`, with its major (most deliveries repeat it). */
let lastVersion = "";
let lastVersionMajor = -1;

/** Checks `version` against the type's major version. */
function checkVersion(version: string, major: number): void {
  if (version === lastVersion && major === lastVersionMajor) return;
  const m = VERSION.exec(version);
  if (!m) throw invalid("version", `attribute 'version' must be MAJOR.MINOR, got "${version}"`, version);
  if (Number(m[1]) !== major) {
    throw invalid("version", `attribute 'version' ${version} does not match the type's v${major}`, version);
  }
  lastVersion = version;
  lastVersionMajor = major;
}

function checkMetadata(metadata: Record<string, string>): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(key)) {
      throw invalid(
        `metadata.${key}`,
        `metadata key "${key}" is not a valid CloudEvents attribute name ([a-z0-9]{1,20})`,
        key,
      );
    }
    if (isReservedAttribute(key)) {
      throw invalid(`metadata.${key}`, `metadata key "${key}" is a reserved attribute name`, key);
    }
    if (typeof value !== "string") {
      throw invalid(`metadata.${key}`, `metadata value of "${key}" must be a string`, value);
    }
  }
}

/**
 * Creates an event, validating every attribute. Inside a handler the new event inherits the handled
 * event's correlation id and takes its id as causation id (see `context/`).
 */
export function createEvent<T>(input: CreateEventInput<T>): CloudEvent<T> {
  const obj = input as unknown as Record<string, unknown>;
  const { major } = parseEventType(input.type);
  requireString(obj, "source");
  requireString(obj, "subject");
  if (!("data" in input)) throw invalid("data", "attribute 'data' is required");
  const id = input.id ?? randomUUID();
  if (typeof id !== "string" || id === "")
    throw invalid("id", "attribute 'id' must be a non-empty string", id);
  const time =
    input.time instanceof Date ? input.time.toISOString() : (input.time ?? new Date().toISOString());
  if (!isRfc3339(time)) throw invalid("time", `attribute 'time' must be RFC 3339, got "${time}"`, time);
  const version = input.version ?? `${major}.0`;
  checkVersion(version, major);
  const metadata = input.metadata ?? {};
  checkMetadata(metadata);
  const ctx = currentEventContext();
  const correlationid = input.correlationid ?? ctx?.correlationId ?? id;
  const causationid = input.causationid ?? ctx?.eventId;
  optionalString(obj, "traceparent");
  optionalString(obj, "tracestate");
  const event: CloudEvent<T> = {
    id,
    source: input.source,
    specversion: SPEC_VERSION,
    type: input.type,
    subject: input.subject,
    time,
    datacontenttype: input.datacontenttype ?? JSON_CONTENT_TYPE,
    data: input.data,
    correlationid,
    version,
    metadata,
    ...(causationid === undefined ? {} : { causationid }),
    ...(input.traceparent === undefined ? {} : { traceparent: input.traceparent }),
    ...(input.tracestate === undefined ? {} : { tracestate: input.tracestate }),
  };
  return event;
}

/**
 * Validates a parsed wire object as a CloudEvent and gathers its extension attributes into `metadata`.
 * Throws an `EnvelopeError` naming the first bad attribute.
 */
export function toCloudEvent(obj: Record<string, unknown>): CloudEvent {
  const specversion = obj.specversion;
  if (specversion === undefined) throw invalid("specversion", "attribute 'specversion' is required");
  if (specversion !== SPEC_VERSION) {
    throw new EnvelopeError(
      ErrorCode.UNSUPPORTED_SPECVERSION,
      "specversion",
      `attribute 'specversion' must be "1.0", got ${JSON.stringify(specversion)}`,
    );
  }
  // Each attribute is read by its literal name (not through a helper taking the name, whose one
  // computed-key read would serve every attribute and stay slow): this runs once per delivered message.
  const id = obj.id;
  if (typeof id !== "string" || id === "") throw notAString("id", id);
  const source = obj.source;
  if (typeof source !== "string" || source === "") throw notAString("source", source);
  const type = obj.type;
  if (typeof type !== "string" || type === "") throw notAString("type", type);
  const major = majorOf(type);
  const subject = obj.subject;
  if (typeof subject !== "string" || subject === "") throw notAString("subject", subject);
  const time = obj.time;
  if (typeof time !== "string" || time === "") throw notAString("time", time);
  if (!isRfc3339(time)) throw invalid("time", `attribute 'time' must be RFC 3339, got "${time}"`, time);
  const datacontenttype = obj.datacontenttype;
  if (typeof datacontenttype !== "string" || datacontenttype === "") {
    throw notAString("datacontenttype", datacontenttype);
  }
  if (!("data" in obj)) throw invalid("data", "attribute 'data' is required");
  const correlationid = obj.correlationid;
  if (typeof correlationid !== "string" || correlationid === "") {
    throw notAString("correlationid", correlationid);
  }
  const version = obj.version;
  if (typeof version !== "string" || version === "") throw notAString("version", version);
  checkVersion(version, major);
  const causationid = obj.causationid;
  if (causationid !== undefined && (typeof causationid !== "string" || causationid === "")) {
    throw notANonEmptyString("causationid", causationid);
  }
  const traceparent = obj.traceparent;
  if (traceparent !== undefined && (typeof traceparent !== "string" || traceparent === "")) {
    throw notANonEmptyString("traceparent", traceparent);
  }
  const tracestate = obj.tracestate;
  if (tracestate !== undefined && (typeof tracestate !== "string" || tracestate === "")) {
    throw notANonEmptyString("tracestate", tracestate);
  }
  let metadata: Record<string, string> | undefined;
  for (const key in obj) {
    if (isReservedAttribute(key)) continue;
    const value = obj[key];
    if (typeof value !== "string" || !isMetadataKey(key)) {
      throw invalid(key, `extension attribute "${key}" must be a string named [a-z0-9]{1,20}`, value);
    }
    if (metadata === undefined) metadata = {};
    metadata[key] = value;
  }
  // Built field by field (no spreads): this runs once per delivered message. Same key order as before.
  const event: Mutable<CloudEvent> = {
    id,
    source,
    specversion: SPEC_VERSION,
    type,
    subject,
    time,
    datacontenttype,
    data: obj.data,
    correlationid,
    version,
    metadata: metadata ?? EMPTY,
  };
  if (causationid !== undefined) event.causationid = causationid as string;
  if (traceparent !== undefined) event.traceparent = traceparent as string;
  if (tracestate !== undefined) event.tracestate = tracestate as string;
  return event;
}

/**
 * Whether `key` is in `RESERVED_ATTRIBUTES`, as a switch on the names: the wire's keys are compared as
 * interned strings, no hashing, and every key of every delivered event passes here.
 * `cloud-event.test.ts` holds the two to the same names.
 */
export function isReservedAttribute(key: string): boolean {
  switch (key) {
    case "id":
    case "source":
    case "specversion":
    case "type":
    case "subject":
    case "time":
    case "datacontenttype":
    case "dataschema":
    case "data":
    case "data_base64":
    case "correlationid":
    case "causationid":
    case "version":
    case "traceparent":
    case "tracestate":
    case "metadata":
      return true;
    default:
      return false;
  }
}

/** The last extension attribute name that passed `METADATA_KEY` (events of a stream repeat theirs). */
let lastMetadataKey = "";

function isMetadataKey(key: string): boolean {
  if (key === lastMetadataKey) return true;
  if (!METADATA_KEY.test(key)) return false;
  lastMetadataKey = key;
  return true;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Valid types seen on the wire and their major version; a consumer sees few, so the regex runs once each. */
const majors = new Map<string, number>();
const MAX_CACHED_TYPES = 1_024;

/** The last type looked up: consumers mostly see runs of one type, and comparing beats hashing a fresh string. */
let lastType = "";
let lastMajor = 0;

function majorOf(type: string): number {
  if (type === lastType) return lastMajor;
  let major = majors.get(type);
  if (major === undefined) {
    major = parseEventType(type).major; // throws on an invalid type, which is never cached
    if (majors.size >= MAX_CACHED_TYPES) majors.clear();
    majors.set(type, major);
  }
  lastType = type;
  lastMajor = major;
  return major;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** The wire object: metadata entries become top-level extension attributes. */
export function toWireObject(event: CloudEvent): Record<string, unknown> {
  const { metadata, ...attributes } = event;
  return { ...attributes, ...metadata };
}
