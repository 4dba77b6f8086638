import { createRepository, type Repository, type RepositoryBaseOptions } from "@slotwise/events";
import { Booking } from "./booking.js";

export type BookingRepository = Repository<Booking>;

/** Bookings event-sourced in `store` (streams `booking-<id>`); options as `createRepository`'s. */
export function createBookingRepository(options: RepositoryBaseOptions): BookingRepository {
  return createRepository({ ...options, factory: (id) => new Booking(id) });
}
