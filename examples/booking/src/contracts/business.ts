import { defineEvent } from "@slotwise/events";
import { z } from "zod";
import { Currency, Id, MinorAmount, Timestamp } from "./common.js";

/** Domain event of the business service: a bookable service's offer changed. */
export const ServiceUpdated = defineEvent({
  type: "business.service.updated.v1",
  description: "A business changed one of its services.",
  schema: z.object({
    serviceId: Id,
    businessId: Id,
    name: z.string().min(1),
    durationMinutes: z.number().int().positive(),
    price: MinorAmount,
    currency: Currency,
    active: z.boolean(),
    updatedAt: Timestamp,
  }),
});
export type ServiceUpdatedData = z.output<typeof ServiceUpdated.schema>;
