import type { Msg } from "@nats-io/transport-node";
import type { CoreMessage, Headers } from "@slotwise/events";
import { fromNatsHeaders, toNatsHeaders } from "./config.js";

/** A core-NATS message behind our `CoreMessage`; headers are converted on first read. */
export class NatsCoreMessage implements CoreMessage {
  readonly #m: Msg;
  #headers: Headers | undefined;

  constructor(m: Msg) {
    this.#m = m;
  }

  get subject(): string {
    return this.#m.subject;
  }
  get data(): Uint8Array {
    return this.#m.data;
  }
  get headers(): Headers {
    if (this.#headers === undefined) this.#headers = fromNatsHeaders(this.#m.headers);
    return this.#headers;
  }
  get reply(): string | undefined {
    return this.#m.reply || undefined;
  }

  /** Answers a request; a message that is not a request has no one to answer, so nothing is sent. */
  respond(data: Uint8Array, headers?: Record<string, string>): void {
    if (!this.#m.reply) return;
    const h = toNatsHeaders(headers);
    this.#m.respond(data, h === undefined ? undefined : { headers: h });
  }
}
