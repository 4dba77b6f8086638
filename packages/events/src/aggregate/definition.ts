import type { CloudEvent } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";

/** What `decide` knows about the aggregate besides its state. */
export interface DecideContext {
  /** The aggregate id (the events' `subject`). */
  readonly id: string;
  /** The aggregate's version before this command (0 for a new one). */
  readonly version: number;
}

/**
 * The pure core of an event-sourced aggregate (a "decider"): state is a left fold of `evolve` over the
 * stream's events, starting from `initialState()`; a command is turned into new events by `decide`, which
 * validates the command against the state and throws a `DomainError` when an invariant forbids it.
 * Neither function does I/O nor mutates its arguments, so both run the same in a repository, in a replay,
 * in a projection and in a given/when/then spec.
 *
 * `AggregateRoot` is the object-shaped wrapper for users who prefer the seed's `booking.confirm()`.
 */
export interface AggregateDefinition<State, Command> {
  /** Aggregate type, e.g. `booking`: names its streams (`booking-<id>`). `[a-z][a-z0-9-]*` */
  readonly type: string;
  initialState(): State;
  /** Pure: returns the state after `event`; never throws for an event that `decide` produced. */
  evolve(state: State, event: CloudEvent): State;
  /** Pure: the events that `command` produces in `state`, or a thrown `DomainError`. */
  decide(command: Command, state: State, context: DecideContext): readonly CloudEvent[];
  /** The stream holding an aggregate's events. @default `${type}-${id}` */
  streamId?(id: string): string;
}

const AGGREGATE_TYPE = /^[a-z][a-z0-9-]*$/;

/** Checks the definition once and returns it (typed), so mistakes surface where it is declared. */
export function defineAggregate<State, Command>(
  definition: AggregateDefinition<State, Command>,
): AggregateDefinition<State, Command> {
  if (!AGGREGATE_TYPE.test(definition.type)) {
    throw new SlotwiseError(
      ErrorCode.INVALID_OPTIONS,
      `aggregate type must match [a-z][a-z0-9-]*, got "${definition.type}"`,
      { details: { field: "type", value: definition.type } },
    );
  }
  for (const fn of ["initialState", "evolve", "decide"] as const) {
    if (typeof definition[fn] !== "function") {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `aggregate "${definition.type}" needs ${fn}()`, {
        details: { field: fn },
      });
    }
  }
  return definition;
}

/** The stream id of an aggregate: the definition's `streamId`, else `${type}-${id}`. */
export function streamIdOf(definition: AggregateDefinition<unknown, never>, id: string): string {
  return definition.streamId ? definition.streamId(id) : `${definition.type}-${id}`;
}

/** State after replaying `events` from the initial state: the fold that loading an aggregate performs. */
export function replayState<State>(
  definition: Pick<AggregateDefinition<State, never>, "initialState" | "evolve">,
  events: Iterable<CloudEvent>,
): State {
  let state = definition.initialState();
  for (const event of events) state = definition.evolve(state, event);
  return state;
}
