import { createEventRegistry, type EventRegistry, type EventRegistryOptions } from "@slotwise/events";
import { UserCreated } from "./auth.js";
import { AppointmentCancelled, AppointmentConfirmed, AppointmentCreated } from "./booking.js";
import { ServiceUpdated } from "./business.js";
import { SendEmail } from "./notification.js";
import { PaymentCompleted } from "./payment.js";

/** Every SlotWise event type, for services and tools that read them all. */
export const SLOTWISE_EVENTS = [
  UserCreated,
  AppointmentCreated,
  AppointmentConfirmed,
  AppointmentCancelled,
  PaymentCompleted,
  ServiceUpdated,
  SendEmail,
] as const;

/** The booking service's own events. */
export const BOOKING_EVENTS = [AppointmentCreated, AppointmentConfirmed, AppointmentCancelled] as const;

/** A fresh registry of the booking aggregate's event types. */
export function bookingRegistry(options?: EventRegistryOptions): EventRegistry {
  return createEventRegistry(options).register(...BOOKING_EVENTS);
}

/** A fresh registry of every SlotWise event type. */
export function slotwiseRegistry(options?: EventRegistryOptions): EventRegistry {
  return createEventRegistry(options).register(...SLOTWISE_EVENTS);
}
