import { defineEvent } from "@slotwise/events";
import { z } from "zod";
import { Currency, Id, MinorAmount, Timestamp } from "./common.js";

/** Integration event of the payment service: a booking's payment went through. */
export const PaymentCompleted = defineEvent({
  type: "payment.transaction.completed.v1",
  description: "A payment transaction completed.",
  schema: z.object({
    transactionId: Id,
    bookingId: Id,
    customerId: Id,
    amount: MinorAmount,
    currency: Currency,
    /** e.g. `card`, `cash`. */
    method: z.string().min(1),
    completedAt: Timestamp,
  }),
});
export type PaymentCompletedData = z.output<typeof PaymentCompleted.schema>;
