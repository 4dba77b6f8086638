import type { CloudEvent, EventRegistry } from "../envelope/index.js";
import { CLOUDEVENTS_CONTENT_TYPE, encodeEvent } from "../envelope/index.js";
import { ErrorCode, isSlotwiseError, SlotwiseError } from "../errors/index.js";
import type { PublishAck, Transport } from "../transport/index.js";
import { CONTENT_TYPE_HEADER } from "../transport/index.js";

export const DEFAULT_MAX_IN_FLIGHT = 256;
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000;
export const DEFAULT_PUBLISH_DEADLINE_MS = 30_000;

/** A step on the way out (authorize, encrypt, trace, …): returns the event to publish, or throws. */
export type OutboundStep = (event: CloudEvent, subject: string) => CloudEvent | Promise<CloudEvent>;

export interface PublisherOptions {
  transport: Transport;
  /** Environment prefix of every subject (`{env}.{type}`). */
  env: string;
  /** When given, `data` is checked against the registered schema before it leaves. */
  registry?: EventRegistry;
  /** Steps applied in order before encoding (authorization, encryption, tracing). @default [] */
  steps?: OutboundStep[];
  /** Unacknowledged `publishAsync` calls at most; more wait for room. @default 256 */
  maxInFlight?: number;
  /** Wait for one acknowledgement. @default 5000 */
  timeoutMs?: number;
  /**
   * A publish that times out may have been stored: it is retried with the same `Nats-Msg-Id` (the server
   * drops the duplicate) until this deadline. Keep it below the stream's duplicate window. @default 30000
   */
  deadlineMs?: number;
  /** Told of every publish outcome (metrics). */
  onPublished?: (event: CloudEvent, subject: string, outcome: { ack?: PublishAck; error?: unknown }) => void;
}

export interface Publisher {
  /** Publishes and resolves after JetStream acknowledged the event. */
  publish(event: CloudEvent): Promise<PublishAck>;
  /**
   * Pipelined publish: resolves as soon as the event is on its way (waiting only when `maxInFlight`
   * acknowledgements are outstanding). Failures surface in `flush()`.
   */
  publishAsync(event: CloudEvent): Promise<void>;
  /** Waits for every pending acknowledgement; throws PUBLISH_FAILED listing what failed since the last flush. */
  flush(): Promise<void>;
  /** Acknowledgements outstanding. */
  readonly pending: number;
}

interface Prepared {
  subject: string;
  data: Uint8Array;
  event: CloudEvent;
}

/** Errors after which the event may or may not be stored: retrying with the same msg id is safe. */
function isAmbiguous(err: unknown): boolean {
  return isSlotwiseError(err, ErrorCode.TIMEOUT) || isSlotwiseError(err, ErrorCode.UNAVAILABLE);
}

/**
 * How long "no stream captures this subject" is retried. Right after a server restart JetStream answers
 * so until it has loaded its streams from disk; a stream that really is missing fails after this.
 */
export const DEFAULT_NO_STREAM_GRACE_MS = 5_000;

class JetStreamPublisher implements Publisher {
  readonly #transport: Transport;
  readonly #env: string;
  readonly #registry: EventRegistry | undefined;
  readonly #steps: OutboundStep[];
  readonly #maxInFlight: number;
  readonly #timeoutMs: number;
  readonly #deadlineMs: number;
  readonly #onPublished: PublisherOptions["onPublished"];
  #pending = 0;
  #failures: { event: CloudEvent; error: unknown }[] = [];
  #waitingForRoom: (() => void)[] = [];
  #waitingForEmpty: (() => void)[] = [];

  constructor(options: PublisherOptions) {
    this.#transport = options.transport;
    this.#env = options.env;
    this.#registry = options.registry;
    this.#steps = options.steps ?? [];
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_PUBLISH_DEADLINE_MS;
    this.#onPublished = options.onPublished;
    if (!(this.#maxInFlight >= 1)) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "maxInFlight must be at least 1", {
        details: { maxInFlight: this.#maxInFlight },
      });
    }
  }

  get pending(): number {
    return this.#pending;
  }

  #prepare(event: CloudEvent): Prepared | Promise<Prepared> {
    if (this.#registry) this.#registry.validate(event);
    const subject = `${this.#env}.${event.type}`;
    // The common case has no steps: stay synchronous, saving a microtask per event on the hot path.
    if (this.#steps.length === 0) return { subject, data: encodeEvent(event), event };
    return this.#applySteps(event, subject);
  }

  async #applySteps(event: CloudEvent, subject: string): Promise<Prepared> {
    let out = event;
    for (const step of this.#steps) out = await step(out, subject);
    return { subject, data: encodeEvent(out), event: out };
  }

  async #send(subject: string, data: Uint8Array, event: CloudEvent): Promise<PublishAck> {
    const started = Date.now();
    const msg = {
      subject,
      data,
      msgId: event.id,
      headers: { [CONTENT_TYPE_HEADER]: CLOUDEVENTS_CONTENT_TYPE },
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.#transport.publish(msg, { timeoutMs: this.#timeoutMs });
        this.#onPublished?.(event, subject, { ack });
        return ack;
      } catch (error) {
        const elapsed = Date.now() - started;
        const retryable = isAmbiguous(error)
          ? elapsed + this.#timeoutMs <= this.#deadlineMs
          : isSlotwiseError(error, ErrorCode.NOT_FOUND) &&
            elapsed < Math.min(this.#deadlineMs, DEFAULT_NO_STREAM_GRACE_MS);
        if (!retryable) {
          this.#onPublished?.(event, subject, { error });
          throw error;
        }
        // Ambiguous (the server may hold it) or a stream not loaded yet: the same msg id again, so the
        // duplicate window drops a second copy.
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  async publish(event: CloudEvent): Promise<PublishAck> {
    const { subject, data, event: out } = await this.#prepare(event);
    return this.#send(subject, data, out);
  }

  async publishAsync(event: CloudEvent): Promise<void> {
    while (this.#pending >= this.#maxInFlight) {
      await new Promise<void>((resolve) => this.#waitingForRoom.push(resolve));
    }
    const { subject, data, event: out } = await this.#prepare(event);
    this.#pending++;
    this.#send(subject, data, out).then(
      () => this.#settled(),
      (error: unknown) => {
        this.#failures.push({ event: out, error });
        this.#settled();
      },
    );
  }

  #settled(): void {
    this.#pending--;
    this.#waitingForRoom.shift()?.();
    if (this.#pending === 0) {
      const waiting = this.#waitingForEmpty;
      this.#waitingForEmpty = [];
      for (const resolve of waiting) resolve();
    }
  }

  async flush(): Promise<void> {
    if (this.#pending > 0) await new Promise<void>((resolve) => this.#waitingForEmpty.push(resolve));
    const failures = this.#failures;
    if (failures.length === 0) return;
    this.#failures = [];
    const first = failures[0]!;
    throw new SlotwiseError(
      ErrorCode.PUBLISH_FAILED,
      `${failures.length} event(s) could not be published; first: ${first.event.type} ${first.event.id}: ${
        (first.error as Error)?.message ?? String(first.error)
      }`,
      {
        cause: first.error,
        details: {
          failed: failures.map((f) => ({ id: f.event.id, type: f.event.type, error: String(f.error) })),
        },
      },
    );
  }
}

export function createPublisher(options: PublisherOptions): Publisher {
  return new JetStreamPublisher(options);
}
