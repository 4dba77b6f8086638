import type { z } from "zod";
import { EnvelopeError, ErrorCode, SlotwiseError } from "../errors/index.js";
import { type CloudEvent, type CreateEventInput, createEvent } from "./cloud-event.js";
import { compileDataCheck, type DataCheck } from "./data-check.js";
import { parseEventType } from "./naming.js";

/** One event type at one schema version: the contract between producer and consumers. */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  readonly type: string;
  /** `MAJOR.MINOR`; MAJOR equals the type's `vN`. */
  readonly version: string;
  readonly schema: S;
  readonly description?: string;
  /** Creates a valid event of this type and version (data checked against the schema). */
  create(input: Omit<CreateEventInput<z.input<S>>, "type" | "version">): CloudEvent<z.output<S>>;
  /** Narrows an event to this type. */
  is(event: CloudEvent): event is CloudEvent<z.output<S>>;
}

export interface DefineEventInput<S extends z.ZodType> {
  type: string;
  /** @default `${N}.0` */
  version?: string;
  schema: S;
  description?: string;
}

function schemaError(type: string, version: string, issues: readonly z.core.$ZodIssue[]): EnvelopeError {
  const first = issues[0];
  const field = first && first.path.length > 0 ? first.path.map(String).join(".") : "(root)";
  return new EnvelopeError(
    ErrorCode.SCHEMA_VIOLATION,
    `data.${field}`,
    `data of ${type} ${version} fails its schema at "${field}": ${first?.message ?? "invalid"}`,
    { details: { type, version, field, issues: issues.map((i) => ({ path: i.path, message: i.message })) } },
  );
}

/**
 * Which definition created an event (its data already parsed by that schema), so publishing it through a
 * registry holding the same definition does not parse the data a second time on the hot path.
 */
const createdBy = new WeakMap<object, EventDefinition>();

export function defineEvent<S extends z.ZodType>(input: DefineEventInput<S>): EventDefinition<S> {
  const { major } = parseEventType(input.type);
  const version = input.version ?? `${major}.0`;
  const def: EventDefinition<S> = {
    type: input.type,
    version,
    schema: input.schema,
    ...(input.description === undefined ? {} : { description: input.description }),
    create(create) {
      const parsed = input.schema.safeParse(create.data);
      if (!parsed.success) throw schemaError(input.type, version, parsed.error.issues);
      const event = createEvent({ ...create, type: input.type, version, data: parsed.data });
      createdBy.set(event, def);
      return event as CloudEvent<z.output<S>>;
    },
    is(event): event is CloudEvent<z.output<S>> {
      return event.type === input.type;
    },
  };
  return def;
}

export interface EventRegistryOptions {
  /**
   * Whether an event whose MINOR is newer than every registered one is read with the newest known schema
   * (minor versions only add optional fields). When false it fails with UNKNOWN_EVENT_VERSION.
   * @default false
   */
  acceptNewerMinor?: boolean;
}

/** Which event types and schema versions a service can read and write. */
export interface EventRegistry {
  register(...definitions: EventDefinition[]): this;
  /** The definition for a type and version, or undefined. */
  get(type: string, version: string): EventDefinition | undefined;
  has(type: string): boolean;
  /** Every registered definition. */
  definitions(): EventDefinition[];
  /**
   * Validates the event's data against its registered schema and returns the event with parsed data.
   * Throws UNKNOWN_EVENT_TYPE, UNKNOWN_EVENT_VERSION or SCHEMA_VIOLATION (naming the field).
   */
  validate<T = unknown>(event: CloudEvent): CloudEvent<T>;
  /**
   * What `validate` puts in the returned event's `data`: the data parsed by its registered schema (the
   * same object when the schema changes nothing). For a caller that owns the event object and replaces
   * its `data` in place (the consumer chain, once per delivered message). Throws as `validate` does.
   */
  parseData(event: CloudEvent): unknown;
}

class Registry implements EventRegistry {
  readonly #byType = new Map<string, Map<string, EventDefinition>>();
  readonly #acceptNewerMinor: boolean;
  #last: EventDefinition | undefined;
  /** The compiled pre-check of `#last`'s data (see `data-check.ts`); undefined when it has none. */
  #lastCheck: DataCheck | undefined;

  constructor(options: EventRegistryOptions) {
    this.#acceptNewerMinor = options.acceptNewerMinor ?? false;
  }

  register(...definitions: EventDefinition[]): this {
    for (const def of definitions) {
      let versions = this.#byType.get(def.type);
      if (!versions) {
        versions = new Map();
        this.#byType.set(def.type, versions);
      }
      const existing = versions.get(def.version);
      if (existing && existing !== def) {
        throw new SlotwiseError(ErrorCode.DUPLICATE_NAME, `${def.type} ${def.version} is registered twice`, {
          details: { type: def.type, version: def.version },
        });
      }
      versions.set(def.version, def);
      compileDataCheck(def.schema); // compiled now (and kept by schema), not on the first delivery
    }
    return this;
  }

  get(type: string, version: string): EventDefinition | undefined {
    return this.#byType.get(type)?.get(version);
  }

  has(type: string): boolean {
    return this.#byType.has(type);
  }

  definitions(): EventDefinition[] {
    return [...this.#byType.values()].flatMap((m) => [...m.values()]);
  }

  #resolve(event: CloudEvent): EventDefinition {
    // The last exact hit first: deliveries come in runs of one type and version, and comparing two
    // strings is cheaper than hashing the fresh ones each decoded event brings, twice.
    const last = this.#last;
    if (last !== undefined && event.type === last.type && event.version === last.version) return last;
    const versions = this.#byType.get(event.type);
    if (!versions) {
      throw new EnvelopeError(ErrorCode.UNKNOWN_EVENT_TYPE, "type", `unknown event type "${event.type}"`, {
        details: { type: event.type },
      });
    }
    const exact = versions.get(event.version);
    if (exact) {
      this.#last = exact;
      this.#lastCheck = compileDataCheck(exact.schema);
      return exact;
    }
    if (this.#acceptNewerMinor) {
      const minor = Number(event.version.split(".")[1]);
      let newest: EventDefinition | undefined;
      let newestMinor = -1;
      for (const def of versions.values()) {
        const m = Number(def.version.split(".")[1]);
        if (m > newestMinor) [newest, newestMinor] = [def, m];
      }
      if (newest && minor > newestMinor) return newest;
    }
    throw new EnvelopeError(
      ErrorCode.UNKNOWN_EVENT_VERSION,
      "version",
      `unknown version ${event.version} of ${event.type} (known: ${[...versions.keys()].join(", ")})`,
      { details: { type: event.type, version: event.version, known: [...versions.keys()] } },
    );
  }

  validate<T = unknown>(event: CloudEvent): CloudEvent<T> {
    const data = this.parseData(event);
    return data === event.data ? (event as CloudEvent<T>) : { ...event, data: data as T };
  }

  parseData(event: CloudEvent): unknown {
    const def = this.#resolve(event);
    if (createdBy.get(event) === def) return event.data;
    // The compiled pre-check first: true means zod would accept the data and give it back unchanged.
    const check = def === this.#last ? this.#lastCheck : compileDataCheck(def.schema);
    if (check?.(event.data) === true) return event.data;
    const parsed = def.schema.safeParse(event.data);
    if (!parsed.success) throw schemaError(event.type, event.version, parsed.error.issues);
    return parsed.data;
  }
}

export function createEventRegistry(options: EventRegistryOptions = {}): EventRegistry {
  return new Registry(options);
}
