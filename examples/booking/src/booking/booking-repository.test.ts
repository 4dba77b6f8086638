import {
  createMemoryEventStore,
  createMemorySnapshotStore,
  ErrorCode,
  isDomainError,
} from "@slotwise/events";
import { describe, expect, it } from "vitest";
import { Booking } from "./booking.js";
import { BookingRule } from "./errors.js";
import { createBookingRepository } from "./repository.js";

const details = {
  customerId: "cust-1",
  businessId: "biz-1",
  serviceId: "svc-haircut",
  startTime: "2030-05-01T09:00:00.000Z",
  endTime: "2030-05-01T09:30:00.000Z",
  amount: 4500,
  currency: "EUR",
};

describe("booking repository", () => {
  it("answers a temporal query: as of a time between creation and confirmation the booking is pending", async () => {
    let now = Date.parse("2030-04-01T12:00:00.000Z");
    const store = createMemoryEventStore({ clock: () => new Date(now) });
    const bookings = createBookingRepository({ store });
    await bookings.handle("bk-1", (b) => b.create(details)); // 12:00
    now += 5 * 60_000;
    await bookings.handle("bk-1", (b) => b.confirm()); // 12:05

    const between = await bookings.loadAsOf("bk-1", new Date("2030-04-01T12:02:00.000Z"));
    expect(between.status).toBe("pending");
    expect(between.version).toBe(1);
    const after = await bookings.loadAsOf("bk-1", new Date("2030-04-01T12:05:00.000Z"));
    expect(after.status).toBe("confirmed");
    expect((await bookings.load("bk-1")).status).toBe("confirmed");
  });

  it("stores the lifecycle in stream booking-<id>, subject = booking id, source booking-service", async () => {
    const store = createMemoryEventStore();
    const bookings = createBookingRepository({ store });
    await bookings.handle("bk-2", (b) => b.create(details));
    await bookings.handle("bk-2", (b) => b.cancel("customer request"));
    const stored = await store.read("booking-bk-2");
    expect(stored.map((s) => [s.streamVersion, s.event.type, s.event.subject, s.event.source])).toEqual([
      [1, "booking.appointment.created.v1", "bk-2", "booking-service"],
      [2, "booking.appointment.cancelled.v1", "bk-2", "booking-service"],
    ]);
  });

  it("refuses a second confirmation without appending, even under concurrency", async () => {
    const store = createMemoryEventStore();
    const bookings = createBookingRepository({ store });
    await bookings.handle("bk-3", (b) => b.create(details));
    // Two confirmations race: one wins, the loser retries on the fresh state and meets the rule.
    const outcomes = await Promise.allSettled([
      bookings.handle("bk-3", (b) => b.confirm()),
      bookings.handle("bk-3", (b) => b.confirm()),
    ]);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const rejected = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(isDomainError(rejected.reason, BookingRule.ALREADY_CONFIRMED)).toBe(true);
    expect(rejected.reason).toMatchObject({ code: ErrorCode.DOMAIN_RULE_VIOLATED });
    expect(await store.version("booking-bk-3")).toBe(2);
  });

  it("loads from snapshots with the same result as a replay", async () => {
    const store = createMemoryEventStore();
    const snapshots = createMemorySnapshotStore();
    const cached = createBookingRepository({ store, snapshots: { store: snapshots, every: 2 } });
    await cached.handle("bk-4", (b) => b.create(details));
    await cached.handle("bk-4", (b) => b.confirm());
    await cached.handle("bk-4", (b) => b.cancel("shop closed"));
    expect(await snapshots.load("booking-bk-4")).toMatchObject({
      version: 2,
      state: { status: "confirmed" },
    });
    const fromSnapshot = await cached.load("bk-4");
    const replayed = await createBookingRepository({ store }).load("bk-4");
    expect(fromSnapshot).toBeInstanceOf(Booking);
    expect(fromSnapshot.state).toEqual(replayed.state);
    expect(fromSnapshot.version).toBe(3);
    expect(fromSnapshot.status).toBe("cancelled");
  });
});
