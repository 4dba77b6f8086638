import type { CloudEvent, EventHandler, HandlerContext } from "@slotwise/events";
import type { SqlExecutor } from "../sql/sql-client.js";
import type { ProcessedEventStore } from "./processed-events.js";

/** A handler whose effects are SQL statements on `tx`, the transaction that also records the event. */
export type TransactionalHandler<T = unknown> = (
  event: CloudEvent<T>,
  tx: SqlExecutor,
  ctx: HandlerContext,
) => Promise<void>;

export interface TransactionalOptions {
  /** Where (consumer, event id) is recorded: the database the handler writes to. */
  store: ProcessedEventStore;
  /** Scope of idempotency. @default the bus's durable consumer (`ctx.consumer`, `{service}-{handler}`) */
  consumer?: string;
  /** Told of each redelivery skipped as already processed (the bus also reports it as a skipped duplicate). */
  onDuplicate?: (event: CloudEvent, consumer: string) => void;
}

/**
 * Wraps a handler so its effect happens exactly once per (consumer, event id): the record and the
 * handler's writes share one transaction. A redelivery of a processed event (after a crash, or an ack that
 * arrived too late) runs nothing and is reported as a duplicate; a failing handler rolls back, so its retry
 * starts clean.
 *
 * ```ts
 * bus.handle({
 *   name: "bookings-projection",
 *   types: [AppointmentConfirmed],
 *   handler: transactional({ store }, async (event, tx) => {
 *     await tx.query({ text: "INSERT INTO bookings (id, status) VALUES ($1, 'confirmed')" }, [event.subject]);
 *   }),
 * });
 * ```
 */
export function transactional<T = unknown>(
  options: TransactionalOptions,
  handler: TransactionalHandler<T>,
): EventHandler<T> {
  const { store, onDuplicate } = options;
  return async (event, ctx) => {
    const consumer = options.consumer ?? ctx.consumer;
    const result = await store.runOnce(consumer, event.id, (tx) => handler(event, tx, ctx));
    if (result.duplicate) {
      ctx.markDuplicate();
      onDuplicate?.(event, consumer);
    }
  };
}
