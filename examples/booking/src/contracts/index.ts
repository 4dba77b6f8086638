export { UserCreated, type UserCreatedData } from "./auth.js";
export {
  AppointmentCancelled,
  type AppointmentCancelledData,
  AppointmentConfirmed,
  type AppointmentConfirmedData,
  AppointmentCreated,
  type AppointmentCreatedData,
  BOOKING_SOURCE,
} from "./booking.js";
export { ServiceUpdated, type ServiceUpdatedData } from "./business.js";
export { Currency, Id, MinorAmount, Timestamp } from "./common.js";
export { EMAIL_PRIORITIES, SendEmail, type SendEmailData } from "./notification.js";
export { PaymentCompleted, type PaymentCompletedData } from "./payment.js";
export { BOOKING_EVENTS, bookingRegistry, SLOTWISE_EVENTS, slotwiseRegistry } from "./registry.js";
