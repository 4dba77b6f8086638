import { defineEvent } from "@slotwise/events";
import { z } from "zod";
import { Id } from "./common.js";

export const EMAIL_PRIORITIES = ["low", "normal", "high"] as const;

/** Command event: asks the notification service to send an email (the seed's `SendEmailCommand`). */
export const SendEmail = defineEvent({
  type: "notification.email.send.v1",
  description: "Send an email from a template.",
  schema: z.object({
    to: z.email(),
    template: Id,
    /** Template parameters (the seed's `map[string]string`). */
    data: z.record(z.string(), z.string()),
    /** @default "normal" */
    priority: z.enum(EMAIL_PRIORITIES).default("normal"),
  }),
});
export type SendEmailData = z.output<typeof SendEmail.schema>;
