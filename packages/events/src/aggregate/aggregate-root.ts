import type { CloudEvent } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import { type AggregateDefinition, streamIdOf } from "./definition.js";

/** A stored copy of an aggregate's state at a version. */
export interface AggregateSnapshot<State> {
  readonly state: State;
  readonly version: number;
}

/**
 * The seed's aggregate root (id, version, state, `apply`, command methods raising events) over a pure
 * `AggregateDefinition`: `apply` runs the definition's `evolve`, `execute` its `decide`. The class adds
 * only bookkeeping — the version and the events raised since the last save — so the rules live once, in
 * the definition, and a subclass's command methods are thin, typed entry points:
 *
 * ```ts
 * class Booking extends AggregateRoot<BookingState, BookingCommand> {
 *   constructor(id: string) { super(id, bookingAggregate); }
 *   confirm() { return this.execute({ type: "ConfirmBooking" }); }
 * }
 * ```
 *
 * A subclass may also validate and `raise` events itself; `evolve` still applies them.
 */
export class AggregateRoot<State, Command = never> {
  readonly id: string;
  readonly definition: AggregateDefinition<State, Command>;
  #state: State;
  #version = 0;
  #uncommitted: CloudEvent[] = [];

  constructor(id: string, definition: AggregateDefinition<State, Command>) {
    if (typeof id !== "string" || id === "") {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "an aggregate id must be a non-empty string", {
        details: { field: "id", value: id },
      });
    }
    this.id = id;
    this.definition = definition;
    this.#state = definition.initialState();
  }

  /** Current state, including events raised but not yet saved. Treat it as read-only. */
  get state(): State {
    return this.#state;
  }

  /** Number of events applied: the stream version once the uncommitted events are saved. */
  get version(): number {
    return this.#version;
  }

  /** The version as loaded or last saved: the `expectedVersion` of the next save. */
  get committedVersion(): number {
    return this.#version - this.#uncommitted.length;
  }

  /** Events raised since the aggregate was loaded or last saved, oldest first. */
  get uncommittedEvents(): readonly CloudEvent[] {
    return this.#uncommitted;
  }

  /** The stream that holds this aggregate's events. */
  get streamId(): string {
    return streamIdOf(this.definition as AggregateDefinition<unknown, never>, this.id);
  }

  /**
   * Applies one event to the state (the definition's pure `evolve`) and counts it, recording nothing:
   * this is replay. Command paths use `raise`.
   */
  apply(event: CloudEvent): void {
    this.#state = this.definition.evolve(this.#state, event);
    this.#version++;
  }

  /** Applies a new event and records it for the next save. */
  protected raise(event: CloudEvent): void {
    this.apply(event);
    this.#uncommitted.push(event);
  }

  /**
   * Runs a command through the definition's `decide` on the current state and raises the events it
   * returns. A refused command throws (typically a `DomainError`) and changes nothing.
   */
  execute(command: Command): readonly CloudEvent[] {
    const events = this.definition.decide(command, this.#state, { id: this.id, version: this.#version });
    for (const event of events) this.raise(event);
    return events;
  }

  /** Clears and returns the uncommitted events: they are in the store now. */
  markCommitted(): CloudEvent[] {
    const events = this.#uncommitted;
    this.#uncommitted = [];
    return events;
  }

  /** The state and committed version, for a snapshot. */
  snapshot(): AggregateSnapshot<State> {
    if (this.#uncommitted.length > 0) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "cannot snapshot an aggregate with unsaved events", {
        details: { id: this.id, uncommitted: this.#uncommitted.length },
      });
    }
    return { state: this.#state, version: this.#version };
  }

  /** Starts a fresh aggregate from a snapshot; later events are then replayed with `apply`. */
  restore(snapshot: AggregateSnapshot<State>): void {
    if (this.#version !== 0) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "only a fresh aggregate can be restored", {
        details: { id: this.id, version: this.#version },
      });
    }
    if (!Number.isInteger(snapshot.version) || snapshot.version < 0) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `invalid snapshot version ${snapshot.version}`, {
        details: { id: this.id, version: snapshot.version },
      });
    }
    this.#state = snapshot.state;
    this.#version = snapshot.version;
  }
}
