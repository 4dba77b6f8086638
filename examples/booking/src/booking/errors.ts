import { DomainError } from "@slotwise/events";

/** The booking aggregate's rules; each refusal names one in `BookingError.rule`. */
export const BookingRule = {
  /** `CreateBooking` on a booking that exists. */
  ALREADY_EXISTS: "BOOKING_ALREADY_EXISTS",
  /** `ConfirmBooking` or `CancelBooking` on a booking that was never created. */
  NOT_FOUND: "BOOKING_NOT_FOUND",
  /** `endTime` is not after `startTime`, or a time is not a valid instant. */
  INVALID_TIME_RANGE: "BOOKING_INVALID_TIME_RANGE",
  /** The command's booking id differs from the aggregate's id. */
  ID_MISMATCH: "BOOKING_ID_MISMATCH",
  /** `ConfirmBooking` on a confirmed booking. */
  ALREADY_CONFIRMED: "BOOKING_ALREADY_CONFIRMED",
  /** `ConfirmBooking` on a cancelled booking. */
  CANCELLED: "BOOKING_CANCELLED",
  /** `CancelBooking` on a cancelled booking. */
  ALREADY_CANCELLED: "BOOKING_ALREADY_CANCELLED",
} as const;
export type BookingRule = (typeof BookingRule)[keyof typeof BookingRule];

/** A booking command refused by one of the `BookingRule`s (code DOMAIN_RULE_VIOLATED). */
export class BookingError extends DomainError {
  declare readonly rule: BookingRule;

  constructor(rule: BookingRule, message: string, details: Record<string, unknown> = {}) {
    super(rule, message, { details });
    this.name = "BookingError";
  }
}
