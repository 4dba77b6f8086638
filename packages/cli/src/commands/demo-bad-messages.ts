import { AppointmentCreated } from "@slotwise/booking";
import {
  CLOUDEVENTS_CONTENT_TYPE,
  CONTENT_TYPE_HEADER,
  ErrorCode,
  type OutboundMessage,
  toWireObject,
} from "@slotwise/events";

/** A malformed message and the error code its dead letter must carry. */
export interface BadMessage {
  message: OutboundMessage;
  expected: string;
}

const encoder = new TextEncoder();

/**
 * Messages that can never be handled, each broken another way, published raw onto the booking stream's
 * subject (so the read model's consumer receives them): the consumer must dead-letter each at once.
 */
export function badMessages(env: string): BadMessage[] {
  const subject = `${env}.${AppointmentCreated.type}`;
  const now = new Date().toISOString();
  // A valid wire event to break one attribute at a time.
  const valid = toWireObject(
    AppointmentCreated.create({
      source: "rogue-service",
      subject: "bk-rogue",
      data: {
        bookingId: "bk-rogue",
        customerId: "c",
        businessId: "b",
        serviceId: "s",
        startTime: now,
        endTime: now,
        amount: 100,
        currency: "EUR",
      },
    }),
  );
  const json = (obj: Record<string, unknown>) => encoder.encode(JSON.stringify(obj));
  const msg = (data: Uint8Array, n: number): OutboundMessage => ({
    subject,
    data,
    headers: { [CONTENT_TYPE_HEADER]: CLOUDEVENTS_CONTENT_TYPE },
    msgId: `demo-bad-${n}-${valid.id as string}`,
  });
  const cases: [Uint8Array, string][] = [
    [encoder.encode("this is not JSON {"), ErrorCode.NOT_JSON],
    [new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), ErrorCode.INVALID_ENCODING],
    [json({ hello: "a JSON object, but no CloudEvent" }), ErrorCode.INVALID_ENVELOPE],
    [json({ ...valid, type: "Booking.Created" }), ErrorCode.INVALID_EVENT_TYPE],
    [json({ ...valid, data: { bookingId: 42 } }), ErrorCode.SCHEMA_VIOLATION],
    [json({ ...valid, version: "1.7" }), ErrorCode.UNKNOWN_EVENT_VERSION],
  ];
  return cases.map(([data, expected], i) => ({ message: msg(data, i + 1), expected }));
}
