import { AggregateRoot, type CloudEvent, type DecideContext, defineAggregate } from "@slotwise/events";
import {
  AppointmentCancelled,
  AppointmentConfirmed,
  AppointmentCreated,
  type AppointmentCreatedData,
  BOOKING_SOURCE,
} from "../contracts/index.js";
import { BookingError, BookingRule } from "./errors.js";

export type BookingStatus = "pending" | "confirmed" | "cancelled";

/** What a booking is about; fixed at creation. */
export type BookingDetails = AppointmentCreatedData;

/**
 * The booking's state. Plain JSON (strings for times) so that it snapshots as it is. A booking that was
 * never created has `status: "none"`.
 */
export type BookingState =
  | { readonly status: "none" }
  | {
      readonly status: BookingStatus;
      readonly details: BookingDetails;
      readonly createdAt: string;
      readonly confirmedAt?: string;
      readonly cancelledAt?: string;
      readonly cancelReason?: string;
    };

export interface CreateBooking {
  readonly type: "CreateBooking";
  readonly bookingId: string;
  readonly customerId: string;
  readonly businessId: string;
  readonly serviceId: string;
  readonly startTime: Date | string;
  readonly endTime: Date | string;
  /** Price in minor units (cents). */
  readonly amount: number;
  readonly currency: string;
}

export interface ConfirmBooking {
  readonly type: "ConfirmBooking";
}

export interface CancelBooking {
  readonly type: "CancelBooking";
  readonly reason: string;
}

export type BookingCommand = CreateBooking | ConfirmBooking | CancelBooking;

/** `Date | string` to an RFC 3339 instant, or undefined when it is not one. */
function instant(value: Date | string): string | undefined {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function create(command: CreateBooking, state: BookingState, context: DecideContext): CloudEvent[] {
  if (state.status !== "none") {
    throw new BookingError(BookingRule.ALREADY_EXISTS, `booking ${context.id} already exists`, {
      bookingId: context.id,
      status: state.status,
    });
  }
  if (command.bookingId !== context.id) {
    throw new BookingError(
      BookingRule.ID_MISMATCH,
      `command for booking ${command.bookingId} sent to booking ${context.id}`,
      { bookingId: context.id, commandBookingId: command.bookingId },
    );
  }
  const startTime = instant(command.startTime);
  const endTime = instant(command.endTime);
  if (startTime === undefined || endTime === undefined || Date.parse(endTime) <= Date.parse(startTime)) {
    throw new BookingError(BookingRule.INVALID_TIME_RANGE, "a booking must end after it starts", {
      bookingId: context.id,
      startTime: String(command.startTime),
      endTime: String(command.endTime),
    });
  }
  const { type: _type, ...details } = command;
  return [
    AppointmentCreated.create({
      source: BOOKING_SOURCE,
      subject: command.bookingId,
      data: { ...details, startTime, endTime },
    }),
  ];
}

function existing(state: BookingState, context: DecideContext) {
  if (state.status === "none") {
    throw new BookingError(BookingRule.NOT_FOUND, `booking ${context.id} does not exist`, {
      bookingId: context.id,
    });
  }
  return state;
}

function confirm(state: BookingState, context: DecideContext): CloudEvent[] {
  const booking = existing(state, context);
  if (booking.status === "cancelled") {
    throw new BookingError(BookingRule.CANCELLED, `booking ${context.id} is cancelled`, {
      bookingId: context.id,
    });
  }
  if (booking.status === "confirmed") {
    throw new BookingError(BookingRule.ALREADY_CONFIRMED, `booking ${context.id} is already confirmed`, {
      bookingId: context.id,
    });
  }
  return [
    AppointmentConfirmed.create({ source: BOOKING_SOURCE, subject: context.id, data: booking.details }),
  ];
}

function cancel(command: CancelBooking, state: BookingState, context: DecideContext): CloudEvent[] {
  const booking = existing(state, context);
  if (booking.status === "cancelled") {
    throw new BookingError(BookingRule.ALREADY_CANCELLED, `booking ${context.id} is already cancelled`, {
      bookingId: context.id,
    });
  }
  const { bookingId, customerId, businessId } = booking.details;
  return [
    AppointmentCancelled.create({
      source: BOOKING_SOURCE,
      subject: context.id,
      data: {
        bookingId,
        customerId,
        businessId,
        reason: command.reason,
        wasConfirmed: booking.status === "confirmed",
      },
    }),
  ];
}

function evolve(state: BookingState, event: CloudEvent): BookingState {
  if (AppointmentCreated.is(event)) {
    return { status: "pending", details: event.data, createdAt: event.time };
  }
  if (state.status === "none") return state; // nothing else can happen to a booking that does not exist
  if (AppointmentConfirmed.is(event)) return { ...state, status: "confirmed", confirmedAt: event.time };
  if (AppointmentCancelled.is(event)) {
    return { ...state, status: "cancelled", cancelledAt: event.time, cancelReason: event.data.reason };
  }
  return state; // an event type this version does not know changes nothing
}

/**
 * The booking aggregate, pure: created → pending, then confirmed and/or cancelled. Its events have the
 * booking id as subject and `booking-service` as source; its stream is `booking-<id>`.
 */
export const bookingAggregate = defineAggregate<BookingState, BookingCommand>({
  type: "booking",
  initialState: () => ({ status: "none" }),
  evolve,
  decide(command, state, context) {
    switch (command.type) {
      case "CreateBooking":
        return create(command, state, context);
      case "ConfirmBooking":
        return confirm(state, context);
      case "CancelBooking":
        return cancel(command, state, context);
    }
  },
});

/** The booking as an object, in the seed's shape: `booking.create(…)`, `booking.confirm()`, `booking.cancel(…)`. */
export class Booking extends AggregateRoot<BookingState, BookingCommand> {
  constructor(id: string) {
    super(id, bookingAggregate);
  }

  /** "none" until created. */
  get status(): BookingState["status"] {
    return this.state.status;
  }

  create(input: Omit<CreateBooking, "type" | "bookingId">): readonly CloudEvent[] {
    return this.execute({ ...input, type: "CreateBooking", bookingId: this.id });
  }

  confirm(): readonly CloudEvent[] {
    return this.execute({ type: "ConfirmBooking" });
  }

  cancel(reason: string): readonly CloudEvent[] {
    return this.execute({ type: "CancelBooking", reason });
  }
}
