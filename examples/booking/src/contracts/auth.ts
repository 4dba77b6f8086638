import { defineEvent } from "@slotwise/events";
import { z } from "zod";
import { Id, Timestamp } from "./common.js";

/** Domain event of the auth service: a user account exists (the seed's `UserCreatedEvent`). */
export const UserCreated = defineEvent({
  type: "auth.user.created.v1",
  description: "A user account was created.",
  schema: z.object({
    userId: Id,
    email: z.email(),
    /** The seed keeps roles open (`string`): customer, business_owner, staff, admin, … */
    role: z.string().min(1),
    businessId: Id.optional(),
    createdAt: Timestamp,
  }),
});
export type UserCreatedData = z.output<typeof UserCreated.schema>;
