import { EnvelopeError, ErrorCode } from "../errors/index.js";

/**
 * Event type: `{domain}.{entity}.{action}.v{N}`, lower case, each word kebab-case.
 * `booking.appointment.confirmed.v1` passes; `booking.created.v1` (no entity) and upper case do not.
 */
const WORD = "[a-z][a-z0-9]*(?:-[a-z0-9]+)*";
export const EVENT_TYPE_PATTERN = new RegExp(`^(${WORD})\\.(${WORD})\\.(${WORD})\\.v([1-9][0-9]*)$`);

/** The environments a subject may start with unless configured otherwise. */
export const DEFAULT_ENVIRONMENTS: readonly string[] = ["dev", "staging", "prod"];

const ENV_PATTERN = /^[a-z][a-z0-9-]*$/;

export interface EventTypeParts {
  domain: string;
  entity: string;
  action: string;
  /** The `N` of `vN`: the schema's major version. */
  major: number;
}

export function parseEventType(type: unknown): EventTypeParts {
  if (typeof type !== "string" || type.length === 0) {
    throw new EnvelopeError(ErrorCode.INVALID_ENVELOPE, "type", "attribute 'type' is required");
  }
  const m = EVENT_TYPE_PATTERN.exec(type);
  if (!m) {
    throw new EnvelopeError(
      ErrorCode.INVALID_EVENT_TYPE,
      "type",
      `attribute 'type' must be {domain}.{entity}.{action}.v{N} in lower case, got "${type}"`,
      { details: { value: type } },
    );
  }
  return { domain: m[1]!, entity: m[2]!, action: m[3]!, major: Number(m[4]) };
}

export function isValidEventType(type: string): boolean {
  return EVENT_TYPE_PATTERN.test(type);
}

export function assertEnvironment(env: string): void {
  if (!ENV_PATTERN.test(env)) {
    throw new EnvelopeError(ErrorCode.INVALID_SUBJECT, "env", `environment must be lower case, got "${env}"`);
  }
}

/** NATS subject of an event: `{env}.{type}`, e.g. `prod.booking.appointment.confirmed.v1`. */
export function subjectFor(env: string, type: string): string {
  assertEnvironment(env);
  parseEventType(type);
  return `${env}.${type}`;
}

/** Splits a NATS subject into its environment and event type, checking both. */
export function parseSubject(
  subject: string,
  environments: readonly string[] = DEFAULT_ENVIRONMENTS,
): { env: string; type: string } & EventTypeParts {
  const dot = subject.indexOf(".");
  const env = dot > 0 ? subject.slice(0, dot) : "";
  if (!environments.includes(env)) {
    throw new EnvelopeError(
      ErrorCode.INVALID_SUBJECT,
      "subject",
      `NATS subject "${subject}" must start with one of the environments ${environments.join(", ")}`,
    );
  }
  const type = subject.slice(dot + 1);
  return { env, type, ...parseEventType(type) };
}

/** JetStream stream of one environment and domain: `{ENV}_{DOMAIN}` capturing `{env}.{domain}.>`. */
export function streamNameFor(env: string, domain: string): string {
  return `${env}_${domain}`.toUpperCase().replace(/[^A-Z0-9_-]/g, "_");
}

export function streamSubjectFor(env: string, domain: string): string {
  return `${env}.${domain}.>`;
}

/** Dead letters of one environment: stream `{ENV}_DLQ` capturing `dlq.{env}.>`. */
export function dlqStreamNameFor(env: string): string {
  return `${env.toUpperCase().replace(/[^A-Z0-9_-]/g, "_")}_DLQ`;
}

/** Subject of a dead letter: the original `{env}.{…}` subject under `dlq.`, so `dlq.{env}.>` captures it. */
export function dlqSubjectFor(originalSubject: string): string {
  return `dlq.${originalSubject}`;
}
