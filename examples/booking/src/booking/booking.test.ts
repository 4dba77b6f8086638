import { type CloudEvent, ErrorCode, isDomainError, isSlotwiseError, SlotwiseError } from "@slotwise/events";
import { AggregateSpec } from "@slotwise/events/testing";
import { describe, expect, it } from "vitest";
import {
  AppointmentCancelled,
  AppointmentConfirmed,
  AppointmentCreated,
  BOOKING_SOURCE,
  bookingRegistry,
  slotwiseRegistry,
} from "../contracts/index.js";
import { Booking, bookingAggregate, type CreateBooking } from "./booking.js";
import { BookingError, BookingRule } from "./errors.js";

const ID = "bk-1";

const details = {
  bookingId: ID,
  customerId: "cust-1",
  businessId: "biz-1",
  serviceId: "svc-haircut",
  startTime: "2030-05-01T09:00:00.000Z",
  endTime: "2030-05-01T09:30:00.000Z",
  amount: 4500,
  currency: "EUR",
};

const createCommand: CreateBooking = { type: "CreateBooking", ...details };

const created = AppointmentCreated.create({ source: BOOKING_SOURCE, subject: ID, data: details });
const confirmed = AppointmentConfirmed.create({ source: BOOKING_SOURCE, subject: ID, data: details });
const cancelled = (reason: string, wasConfirmed: boolean): CloudEvent =>
  AppointmentCancelled.create({
    source: BOOKING_SOURCE,
    subject: ID,
    data: { bookingId: ID, customerId: "cust-1", businessId: "biz-1", reason, wasConfirmed },
  });

const spec = () => AggregateSpec.for(bookingAggregate, { id: ID });

describe("booking aggregate: CreateBooking", () => {
  it("creates a pending booking, with the booking id as subject", () => {
    const booking = spec().given([]).when(createCommand).then([created]);
    expect(booking.state).toMatchObject({ status: "pending", details });
    expect(booking.uncommittedEvents[0]).toMatchObject({
      source: BOOKING_SOURCE,
      subject: ID,
      version: "1.0",
    });
  });

  it("normalizes Date times to RFC 3339 UTC", () => {
    spec()
      .when({
        ...createCommand,
        startTime: new Date(details.startTime),
        endTime: "2030-05-01T11:30:00+02:00",
      })
      .then([created]);
  });

  it("refuses a booking that ends before it starts", () => {
    spec()
      .when({ ...createCommand, endTime: "2030-05-01T08:00:00.000Z" })
      .thenThrows(BookingRule.INVALID_TIME_RANGE);
  });

  it("refuses a booking that ends when it starts", () => {
    spec()
      .when({ ...createCommand, endTime: details.startTime })
      .thenThrows(BookingRule.INVALID_TIME_RANGE);
  });

  it("refuses times that are not instants", () => {
    spec()
      .when({ ...createCommand, startTime: "next tuesday" })
      .thenThrows(BookingRule.INVALID_TIME_RANGE);
  });

  it("refuses to create a booking twice", () => {
    spec().given([created]).when(createCommand).thenThrows(BookingRule.ALREADY_EXISTS);
  });

  it("refuses a command for another booking id", () => {
    spec()
      .when({ ...createCommand, bookingId: "bk-2" })
      .thenThrows(BookingRule.ID_MISMATCH);
  });

  it("refuses data that breaks the event schema (a fractional amount), naming the field", () => {
    const error = spec()
      .when({ ...createCommand, amount: 45.5 })
      .thenThrows(ErrorCode.SCHEMA_VIOLATION);
    expect(error).toMatchObject({ attribute: "data.amount" });
  });
});

describe("booking aggregate: ConfirmBooking", () => {
  it("confirms a pending booking with the full integration payload", () => {
    const booking = spec().given([created]).when({ type: "ConfirmBooking" }).then([confirmed]);
    expect(booking.state.status).toBe("confirmed");
    expect(booking.version).toBe(2);
  });

  it("refuses to confirm a booking that does not exist", () => {
    spec().when({ type: "ConfirmBooking" }).thenThrows(BookingRule.NOT_FOUND);
  });

  it("refuses to confirm a confirmed booking", () => {
    spec()
      .given([created, confirmed])
      .when({ type: "ConfirmBooking" })
      .thenThrows(BookingRule.ALREADY_CONFIRMED);
  });

  it("refuses to confirm a cancelled booking", () => {
    spec()
      .given([created, cancelled("customer request", false)])
      .when({ type: "ConfirmBooking" })
      .thenThrows(BookingRule.CANCELLED);
  });
});

describe("booking aggregate: CancelBooking", () => {
  it("cancels a pending booking", () => {
    const booking = spec()
      .given([created])
      .when({ type: "CancelBooking", reason: "customer request" })
      .then([cancelled("customer request", false)]);
    expect(booking.state).toMatchObject({ status: "cancelled", cancelReason: "customer request" });
  });

  it("cancels a confirmed booking and says it was confirmed", () => {
    spec()
      .given([created, confirmed])
      .when({ type: "CancelBooking", reason: "shop closed" })
      .then([cancelled("shop closed", true)]);
  });

  it("refuses to cancel twice", () => {
    spec()
      .given([created, cancelled("first", false)])
      .when({ type: "CancelBooking", reason: "second" })
      .thenThrows(BookingRule.ALREADY_CANCELLED);
  });

  it("refuses to cancel a booking that does not exist", () => {
    spec().when({ type: "CancelBooking", reason: "x" }).thenThrows(BookingRule.NOT_FOUND);
  });

  it("refuses an empty reason (schema)", () => {
    spec()
      .given([created])
      .when({ type: "CancelBooking", reason: "" })
      .thenThrows(ErrorCode.SCHEMA_VIOLATION);
  });
});

describe("Booking class (the seed's aggregate root shape)", () => {
  it("runs the whole lifecycle through command methods", () => {
    const booking = AggregateSpec.for((id) => new Booking(id), { id: ID })
      .when((b) => {
        b.create(details);
        b.confirm();
        b.cancel("customer request");
      })
      .then([created, confirmed, cancelled("customer request", true)]);
    expect(booking.status).toBe("cancelled");
    expect(booking.version).toBe(3);
    expect(booking.committedVersion).toBe(0);
  });

  it("is rebuilt by replay, recording nothing", () => {
    const booking = new Booking(ID);
    for (const event of [created, confirmed]) booking.apply(event);
    expect(booking.status).toBe("confirmed");
    expect(booking.version).toBe(2);
    expect(booking.uncommittedEvents).toEqual([]);
  });

  it("throws typed domain errors that keep their rule over the wire", () => {
    const error = AggregateSpec.for((id) => new Booking(id))
      .given([created, cancelled("first", false)])
      .when((b) => b.confirm())
      .thenThrows(BookingError);
    expect(error).toBeInstanceOf(SlotwiseError);
    expect(isSlotwiseError(error, ErrorCode.DOMAIN_RULE_VIOLATED)).toBe(true);
    expect((error as BookingError).rule).toBe(BookingRule.CANCELLED);
    const wire = JSON.parse(JSON.stringify(error));
    expect(isDomainError(wire, BookingRule.CANCELLED)).toBe(true);
    expect(isDomainError(wire, BookingRule.ALREADY_CANCELLED)).toBe(false);
  });

  it("leaves state and version untouched when a command is refused", () => {
    const booking = new Booking(ID);
    booking.apply(created);
    booking.apply(cancelled("first", false));
    expect(() => booking.cancel("again")).toThrow(BookingError);
    expect(booking.version).toBe(2);
    expect(booking.uncommittedEvents).toEqual([]);
  });
});

describe("contracts", () => {
  it("registers the booking events in bookingRegistry and every seed type in slotwiseRegistry", () => {
    expect(
      bookingRegistry()
        .definitions()
        .map((d) => d.type)
        .sort(),
    ).toEqual([
      "booking.appointment.cancelled.v1",
      "booking.appointment.confirmed.v1",
      "booking.appointment.created.v1",
    ]);
    const all = slotwiseRegistry();
    for (const type of [
      "auth.user.created.v1",
      "booking.appointment.confirmed.v1",
      "payment.transaction.completed.v1",
      "business.service.updated.v1",
      "notification.email.send.v1",
      "booking.appointment.created.v1",
      "booking.appointment.cancelled.v1",
    ]) {
      expect(all.has(type), type).toBe(true);
    }
  });

  it("validates the booking aggregate's events against the registry", () => {
    const registry = bookingRegistry();
    for (const event of [created, confirmed, cancelled("x", false)]) {
      expect(registry.validate(event).data).toEqual(event.data);
    }
  });

  it("refuses a confirmed event whose amount is not an integer, naming the field", () => {
    const bad = { ...confirmed, data: { ...details, amount: "45.00" } };
    try {
      slotwiseRegistry().validate(bad);
      expect.unreachable();
    } catch (error) {
      expect(isSlotwiseError(error, ErrorCode.SCHEMA_VIOLATION)).toBe(true);
      expect((error as { attribute: string }).attribute).toBe("data.amount");
    }
  });
});

describe("AggregateSpec itself", () => {
  it("fails when the raised events differ", () => {
    expect(() =>
      spec()
        .given([created])
        .when({ type: "ConfirmBooking" })
        .then([cancelled("x", false)]),
    ).toThrow(/raised events differ/);
  });

  it("fails when events were expected but the command threw", () => {
    expect(() =>
      spec().given([created, confirmed]).when({ type: "ConfirmBooking" }).then([confirmed]),
    ).toThrow(/threw BookingError \[DOMAIN_RULE_VIOLATED\/BOOKING_ALREADY_CONFIRMED\]/);
  });

  it("fails thenThrows when the command succeeds, or throws something else", () => {
    expect(() => spec().given([created]).when({ type: "ConfirmBooking" }).thenThrows()).toThrow(
      /expected the command to throw/,
    );
    expect(() =>
      spec().given([created, confirmed]).when({ type: "ConfirmBooking" }).thenThrows(BookingRule.CANCELLED),
    ).toThrow(/but it threw/);
  });

  it("accepts a predicate", () => {
    spec()
      .given([created, confirmed])
      .when({ type: "ConfirmBooking" })
      .thenThrows((e) => isDomainError(e, BookingRule.ALREADY_CONFIRMED));
  });

  it("refuses to be awaited", async () => {
    await expect(
      (async () => {
        // @ts-expect-error the types refuse it too: `then` is not a thenable's
        await spec().given([created]).when({ type: "ConfirmBooking" });
      })(),
    ).rejects.toThrow(/do not await the spec/);
  });
});
