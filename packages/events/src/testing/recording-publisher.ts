import type { Publisher } from "../bus/publisher.js";
import type { CloudEvent, EventRegistry } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import type { PublishAck } from "../transport/index.js";

/** Stream name reported in the acknowledgements of a recording publisher. */
export const RECORDING_STREAM = "RECORDING";

export interface RecordingPublisherOptions {
  /** When given, `data` is checked against the registered schema, as the real publisher does. */
  registry?: EventRegistry;
  /** Makes a publish fail: return (or throw) an error for the events that should fail. @default never */
  failWith?: (event: CloudEvent) => unknown;
}

/**
 * A `Publisher` that keeps what it is given instead of sending it (the seed's `MockEventPublisher`), for
 * unit tests of code that publishes. Like JetStream, a second event with an id already recorded is
 * acknowledged as a duplicate and not recorded again.
 */
export interface RecordingPublisher extends Publisher {
  /** Every recorded event, in publish order. */
  readonly published: readonly CloudEvent[];
  /** The recorded events of one type, narrowed when given an event definition. */
  ofType<T = unknown>(type: string | { readonly type: string }): CloudEvent<T>[];
  /** Forgets everything recorded. */
  clear(): void;
}

class Recording implements RecordingPublisher {
  readonly #registry: EventRegistry | undefined;
  readonly #failWith: RecordingPublisherOptions["failWith"];
  readonly #events: CloudEvent[] = [];
  readonly #seqById = new Map<string, number>();
  #failures: { event: CloudEvent; error: unknown }[] = [];

  constructor(options: RecordingPublisherOptions) {
    this.#registry = options.registry;
    this.#failWith = options.failWith;
  }

  get published(): readonly CloudEvent[] {
    return this.#events;
  }

  get pending(): number {
    return 0;
  }

  ofType<T = unknown>(type: string | { readonly type: string }): CloudEvent<T>[] {
    const name = typeof type === "string" ? type : type.type;
    return this.#events.filter((e) => e.type === name) as CloudEvent<T>[];
  }

  clear(): void {
    this.#events.length = 0;
    this.#seqById.clear();
    this.#failures = [];
  }

  #record(event: CloudEvent): PublishAck {
    this.#registry?.validate(event);
    const error = this.#failWith?.(event);
    if (error !== undefined && error !== null && error !== false) throw error;
    const seen = this.#seqById.get(event.id);
    if (seen !== undefined) return { stream: RECORDING_STREAM, seq: seen, duplicate: true };
    this.#events.push(event);
    this.#seqById.set(event.id, this.#events.length);
    return { stream: RECORDING_STREAM, seq: this.#events.length, duplicate: false };
  }

  async publish(event: CloudEvent): Promise<PublishAck> {
    return this.#record(event);
  }

  async publishAsync(event: CloudEvent): Promise<void> {
    try {
      this.#record(event);
    } catch (error) {
      this.#failures.push({ event, error });
    }
  }

  async flush(): Promise<void> {
    const failures = this.#failures;
    if (failures.length === 0) return;
    this.#failures = [];
    throw new SlotwiseError(ErrorCode.PUBLISH_FAILED, `${failures.length} event(s) could not be published`, {
      cause: failures[0]?.error,
      details: {
        failed: failures.map((f) => ({ id: f.event.id, type: f.event.type, error: String(f.error) })),
      },
    });
  }
}

export function createRecordingPublisher(options: RecordingPublisherOptions = {}): RecordingPublisher {
  return new Recording(options);
}
