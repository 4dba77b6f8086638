import { defineEvent } from "@slotwise/events";
import { z } from "zod";
import { Currency, Id, MinorAmount, Timestamp } from "./common.js";

/** Source of every event the booking service produces. */
export const BOOKING_SOURCE = "booking-service";

const appointment = {
  bookingId: Id,
  customerId: Id,
  businessId: Id,
  serviceId: Id,
  startTime: Timestamp,
  endTime: Timestamp,
  /** Price in minor units. */
  amount: MinorAmount,
  currency: Currency,
};

/** A booking was requested and is pending confirmation (the booking aggregate's first event). */
export const AppointmentCreated = defineEvent({
  type: "booking.appointment.created.v1",
  description: "An appointment was booked and awaits confirmation.",
  schema: z.object(appointment),
});
export type AppointmentCreatedData = z.output<typeof AppointmentCreated.schema>;

/** Integration event: a booking is confirmed (the seed's `BookingConfirmedEvent`). */
export const AppointmentConfirmed = defineEvent({
  type: "booking.appointment.confirmed.v1",
  description: "An appointment was confirmed.",
  schema: z.object(appointment),
});
export type AppointmentConfirmedData = z.output<typeof AppointmentConfirmed.schema>;

/** A booking was cancelled, pending or confirmed. */
export const AppointmentCancelled = defineEvent({
  type: "booking.appointment.cancelled.v1",
  description: "An appointment was cancelled.",
  schema: z.object({
    bookingId: Id,
    customerId: Id,
    businessId: Id,
    reason: z.string().min(1),
    /** The booking was confirmed before (a payment may need a refund). */
    wasConfirmed: z.boolean(),
  }),
});
export type AppointmentCancelledData = z.output<typeof AppointmentCancelled.schema>;
