import type { CloudEvent } from "../envelope/index.js";
import type { ReceivedMessage } from "../transport/index.js";

/** What one delivery carries through the consumer chain. */
export interface MessageContext {
  readonly message: ReceivedMessage;
  /** Handler name (unique per service). */
  readonly handler: string;
  /** Durable consumer name, `{service}-{handler}`. */
  readonly consumer: string;
  /** The event as decoded; middleware may replace it (decrypt does). */
  event: CloudEvent;
  /** Set by a middleware that handled the event itself (dedupe): the handler is not called. */
  skipped?: "duplicate" | "filtered";
}

/**
 * Handler → handler: the first middleware added runs outermost. Call `next()` to go on; throw to fail
 * the delivery (retried, or dead-lettered when the error is permanent); return without `next()` to
 * finish early (the message is acked).
 */
export type Middleware = (ctx: MessageContext, next: () => Promise<void>) => Promise<void>;

/** Composes middleware around a final step, once, at construction. */
export function compose(middleware: readonly Middleware[], last: (ctx: MessageContext) => Promise<void>) {
  return function run(ctx: MessageContext): Promise<void> {
    let index = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= index) return Promise.reject(new Error("next() called twice"));
      index = i;
      const fn = middleware[i];
      if (fn === undefined) return last(ctx);
      return fn(ctx, () => dispatch(i + 1));
    };
    return dispatch(0);
  };
}
