// The smallest example of packages/events/README.md, run as a test so the README cannot drift.
import { expect, it } from "vitest";
import { z } from "zod";
import { createEventBus, createEventRegistry, createMemoryTransport, defineEvent } from "./index.js";

it("the README's smallest example runs", async () => {
  // --- README example start
  const Confirmed = defineEvent({
    type: "booking.appointment.confirmed.v1",
    schema: z.object({ bookingId: z.string(), amount: z.number().int() }),
  });
  const bus = createEventBus({
    transport: createMemoryTransport(), // or: await createNatsTransport({ servers }) from @slotwise/nats
    service: "notification-service",
    env: "dev",
    registry: createEventRegistry().register(Confirmed),
  });
  const seen: string[] = [];
  bus.handle({
    name: "send-confirmation", // durable consumer "notification-service-send-confirmation"
    types: [Confirmed],
    retry: { attempts: 5, baseMs: 200 }, // then the dead letters, DEV_DLQ
    handler: async (event) => {
      seen.push((event.data as { bookingId: string }).bookingId);
    },
  });
  await bus.start();
  await bus.publish(
    Confirmed.create({
      source: "booking-service",
      subject: "bk-1",
      data: { bookingId: "bk-1", amount: 4500 },
    }),
  );
  // --- README example end
  await new Promise<void>((resolve) => {
    const check = () => (seen.length === 1 ? resolve() : setTimeout(check, 5));
    check();
  });
  await bus.close();
  expect(seen).toEqual(["bk-1"]);
});
