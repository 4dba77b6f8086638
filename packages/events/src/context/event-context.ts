import { AsyncLocalStorage } from "node:async_hooks";

/**
 * What a handler is working on. The seed threads a correlation id through Go's context; here
 * AsyncLocalStorage carries it, so events created while handling inherit `correlationid` and take the
 * handled event's id as `causationid` without the caller passing anything.
 */
export interface EventContext {
  readonly eventId: string;
  readonly correlationId: string;
  readonly type?: string;
  readonly traceparent?: string;
}

const storage = new AsyncLocalStorage<EventContext>();

/** Runs `fn` with `ctx` as the current event context. */
export function runWithEventContext<R>(ctx: EventContext, fn: () => R): R {
  return storage.run(ctx, fn);
}

export function currentEventContext(): EventContext | undefined {
  return storage.getStore();
}

/** Context for a fresh flow started outside any handler (an HTTP request, say). */
export function runWithCorrelation<R>(correlationId: string, fn: () => R): R {
  return storage.run({ eventId: correlationId, correlationId }, fn);
}
