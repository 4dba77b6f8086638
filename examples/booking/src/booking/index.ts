export {
  Booking,
  type BookingCommand,
  type BookingDetails,
  type BookingState,
  type BookingStatus,
  bookingAggregate,
  type CancelBooking,
  type ConfirmBooking,
  type CreateBooking,
} from "./booking.js";
export { BookingError, BookingRule } from "./errors.js";
export { type BookingRepository, createBookingRepository } from "./repository.js";
