import { AssertionError, deepStrictEqual } from "node:assert";
import { AggregateRoot } from "../aggregate/aggregate-root.js";
import type { AggregateDefinition } from "../aggregate/definition.js";
import type { CloudEvent } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";

/**
 * Given / when / then for aggregates, framework-agnostic (failures are `node:assert` errors, which every
 * runner shows with a diff):
 *
 * ```ts
 * AggregateSpec.for(bookingAggregate)
 *   .given([created])
 *   .when({ type: "ConfirmBooking" })
 *   .then([confirmed]);
 * AggregateSpec.for((id) => new Booking(id)).given([created, cancelled]).when((b) => b.cancel("again"))
 *   .thenThrows("BOOKING_ALREADY_CANCELLED");
 * ```
 *
 * The given events are replayed with `apply`, the command runs through the same `AggregateRoot` code a
 * repository uses, and the raised events are compared with the expected ones on `type`, `subject`,
 * `version` and `data` (in their JSON form); generated `id`, `time` and correlation attributes are ignored.
 */

/** An expected event: a CloudEvent, or just the attributes to compare (`subject`/`version` optional). */
export interface ExpectedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly subject?: string;
  readonly version?: string;
}

/** What `thenThrows` expects: an error code or domain rule, an error class, or a predicate. */
export type ExpectedError =
  | string
  // `never` parameters: any error class is assignable, whatever its constructor takes.
  | (abstract new (
      ...args: never
    ) => Error)
  | ((error: unknown) => boolean);

export interface AggregateSpecOptions {
  /**
   * Id of the aggregate under test.
   * @default the subject of the first given event, else DEFAULT_SPEC_AGGREGATE_ID
   */
  id?: string;
}

export const DEFAULT_SPEC_AGGREGATE_ID = "aggregate-under-test";

/** What a `when` receives: a command (run through `decide`) or a function calling command methods. */
export type SpecAction<A, Command> = Command | ((aggregate: A) => unknown);

export interface AggregateSpecGiven<A, Command> {
  /** The aggregate's history: events applied before the command. */
  given(events: readonly CloudEvent[]): AggregateSpecWhen<A, Command>;
  /** Same as `given([])`: a new aggregate. */
  when(action: SpecAction<A, Command>): AggregateSpecThen<A>;
}

export interface AggregateSpecWhen<A, Command> {
  when(action: SpecAction<A, Command>): AggregateSpecThen<A>;
}

export interface AggregateSpecThen<A> {
  /**
   * Asserts that the command raised exactly these events, in order. Returns the aggregate afterwards
   * for further checks of its state.
   */
  then(expected: readonly ExpectedEvent[]): A;
  /** Asserts that the command was refused with a matching error (and raised nothing). Returns the error. */
  thenThrows(expected?: ExpectedError): unknown;
}

type Factory<A> = (id: string) => A;

type Outcome<A> = { aggregate: A; events: readonly CloudEvent[] } | { error: unknown };

/** The comparable part of an event, in its wire (JSON) form. */
function comparable(event: ExpectedEvent, keep: ExpectedEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: event.type,
    data: event.data === undefined ? undefined : JSON.parse(JSON.stringify(event.data)),
  };
  if (keep.subject !== undefined) out.subject = event.subject;
  if (keep.version !== undefined) out.version = event.version;
  return out;
}

function explain(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const rule = (error as { rule?: unknown }).rule;
    return `${error.name}${code ? ` [${String(code)}${rule ? `/${String(rule)}` : ""}]` : ""}: ${error.message}`;
  }
  return String(error);
}

function matches(error: unknown, expected: ExpectedError | undefined): boolean {
  if (expected === undefined) return true;
  if (typeof expected === "string") {
    const e = error as { code?: unknown; rule?: unknown; details?: { rule?: unknown } } | null;
    return (
      e !== null &&
      typeof e === "object" &&
      (e.code === expected || e.rule === expected || e.details?.rule === expected)
    );
  }
  if (expected.prototype instanceof Error || expected === Error) {
    return error instanceof (expected as abstract new () => Error);
  }
  return (expected as (error: unknown) => boolean)(error);
}

class Spec<A extends AggregateRoot<unknown, Command>, Command>
  implements AggregateSpecGiven<A, Command>, AggregateSpecWhen<A, Command>
{
  readonly #factory: Factory<A>;
  readonly #id: string | undefined;
  readonly #definitionMode: boolean;
  #given: readonly CloudEvent[] = [];

  constructor(factory: Factory<A>, definitionMode: boolean, options: AggregateSpecOptions) {
    this.#factory = factory;
    this.#definitionMode = definitionMode;
    this.#id = options.id;
  }

  given(events: readonly CloudEvent[]): AggregateSpecWhen<A, Command> {
    this.#given = events;
    return this;
  }

  when(action: SpecAction<A, Command>): AggregateSpecThen<A> {
    if (typeof action !== "function" && !this.#definitionMode) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        "AggregateSpec.for(factory).when() takes a function calling command methods",
      );
    }
    const run = (): Outcome<A> => {
      const aggregate = this.#factory(this.#id ?? this.#given[0]?.subject ?? DEFAULT_SPEC_AGGREGATE_ID);
      // Outside the try: a history that cannot be replayed is a broken test, not a refused command.
      for (const event of this.#given) aggregate.apply(event);
      let result: unknown;
      try {
        result =
          typeof action === "function"
            ? (action as (aggregate: A) => unknown)(aggregate)
            : aggregate.execute(action as Command);
      } catch (error) {
        return { error };
      }
      if (typeof (result as { then?: unknown } | null)?.then === "function") {
        throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "AggregateSpec.when() must be synchronous");
      }
      return { aggregate, events: aggregate.uncommittedEvents };
    };
    return {
      // biome-ignore lint/suspicious/noThenProperty: `.then(expectedEvents)` is the given/when/then vocabulary; awaiting is refused below
      then(expected: readonly ExpectedEvent[]): A {
        if (typeof expected === "function") {
          // Called as a thenable (`await spec.when(...)`): refuse instead of silently passing.
          throw new SlotwiseError(
            ErrorCode.INVALID_OPTIONS,
            "AggregateSpec: call .then(expectedEvents) or .thenThrows(...); do not await the spec",
          );
        }
        const outcome = run();
        if ("error" in outcome) {
          const failure = new AssertionError({
            message: `expected ${expected.length} event(s), but the command threw ${explain(outcome.error)}`,
            actual: outcome.error,
            expected,
            operator: "then",
          });
          // Keep the original stack reachable: a thrown TypeError is usually a bug in decide.
          throw Object.assign(failure, { cause: outcome.error });
        }
        const actual = outcome.events.map((e, i) => comparable(e, expected[i] ?? e));
        const wanted = expected.map((e) => comparable(e, e));
        deepStrictEqual(actual, wanted, "raised events differ from the expected ones");
        return outcome.aggregate;
      },
      thenThrows(expected?: ExpectedError): unknown {
        const outcome = run();
        if (!("error" in outcome)) {
          throw new AssertionError({
            message: `expected the command to throw${typeof expected === "string" ? ` ${expected}` : ""}, but it raised ${outcome.events.length} event(s): ${outcome.events.map((e) => e.type).join(", ") || "none"}`,
            actual: outcome.events.map((e) => e.type),
            expected,
            operator: "thenThrows",
          });
        }
        if (!matches(outcome.error, expected)) {
          throw new AssertionError({
            message: `expected the command to throw ${typeof expected === "string" ? expected : "a matching error"}, but it threw ${explain(outcome.error)}`,
            actual: outcome.error,
            expected,
            operator: "thenThrows",
          });
        }
        return outcome.error;
      },
    };
  }
}

/** A spec over a pure definition: `when` takes a command (or a function of the aggregate). */
function specFor<State, Command>(
  target: AggregateDefinition<State, Command>,
  options?: AggregateSpecOptions,
): AggregateSpecGiven<AggregateRoot<State, Command>, Command>;
/** A spec over an aggregate class: `when` takes a function calling its command methods. */
function specFor<A extends AggregateRoot<unknown, never>>(
  target: (id: string) => A,
  options?: AggregateSpecOptions,
): AggregateSpecGiven<A, never>;
function specFor<State, Command>(
  target: AggregateDefinition<State, Command> | ((id: string) => AggregateRoot<State, Command>),
  options: AggregateSpecOptions = {},
): AggregateSpecGiven<AggregateRoot<State, Command>, Command> {
  if (typeof target === "function") return new Spec(target, false, options);
  return new Spec((id) => new AggregateRoot(id, target), true, options);
}

/** Entry point of the given/when/then kit: `AggregateSpec.for(definitionOrFactory)`. */
export const AggregateSpec = { for: specFor } as const;
