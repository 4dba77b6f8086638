import { describe, expect, it, onTestFinished } from "vitest";
import { waitFor } from "../testing/wait.js";
import { createMemoryBroker, MAX_DELIVERIES_ADVISORY_PREFIX } from "../transport/index.js";
import { publishDeadLetter } from "./dead-letter.js";
import { createDeadLetterQueue } from "./queue.js";
import { ADVISORY_STREAM, type SweepOutcome, startDeadLetterSweeper, sweeperDurableFor } from "./sweeper.js";

const encoder = new TextEncoder();

async function setup() {
  const broker = createMemoryBroker();
  const transport = broker.connect();
  await transport.ensureStream({ name: "DEV_BOOKING", subjects: ["dev.booking.>"] });
  await transport.ensureStream({ name: "DEV_DLQ", subjects: ["dlq.dev.>"] });
  const outcomes: SweepOutcome[] = [];
  const sweeper = await startDeadLetterSweeper({
    transport,
    streams: ["DEV_BOOKING"],
    onSwept: (o) => void outcomes.push(o),
  });
  onTestFinished(async () => {
    await sweeper.stop();
    await broker.close();
  });
  const advise = (body: unknown) =>
    transport.publishCore({
      subject: `${MAX_DELIVERIES_ADVISORY_PREFIX}.DEV_BOOKING.booking-service-projector`,
      data: encoder.encode(typeof body === "string" ? body : JSON.stringify(body)),
    });
  const advisory = (seq: number) => ({
    type: "io.nats.jetstream.advisory.v1.max_deliver",
    id: "a-1",
    timestamp: new Date().toISOString(),
    stream: "DEV_BOOKING",
    consumer: "booking-service-projector",
    stream_seq: seq,
    deliveries: 5,
  });
  return { transport, outcomes, advise, advisory, dlq: createDeadLetterQueue({ transport, env: "dev" }) };
}

describe("dead-letter sweeper", () => {
  it("creates the shared advisory stream and one durable per domain stream", async () => {
    const { transport } = await setup();
    expect(await transport.streamInfo(ADVISORY_STREAM)).toMatchObject({
      subjects: ["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"],
    });
    expect(await transport.consumerInfo(ADVISORY_STREAM, sweeperDurableFor("DEV_BOOKING"))).toBeDefined();
  });

  it("dead-letters the message an advisory names, with MAX_DELIVERIES and the original bytes", async () => {
    const { transport, outcomes, advise, advisory, dlq } = await setup();
    const ack = await transport.publish({
      subject: "dev.booking.appointment.created.v1",
      data: encoder.encode("{}"),
    });
    advise(advisory(ack.seq));
    await waitFor(() => outcomes.length === 1);
    expect(outcomes[0]).toMatchObject({ kind: "dead-lettered", duplicate: false });
    expect(await dlq.list()).toMatchObject([
      {
        code: "MAX_DELIVERIES",
        consumer: "booking-service-projector",
        deliveries: 5,
        streamSequence: ack.seq,
        originalSubject: "dev.booking.appointment.created.v1",
      },
    ]);
  });

  it("stores once a message the handler already dead-lettered on its last attempt", async () => {
    const { transport, outcomes, advise, advisory, dlq } = await setup();
    const ack = await transport.publish({
      subject: "dev.booking.appointment.created.v1",
      data: encoder.encode("{}"),
    });
    await publishDeadLetter(transport, {
      subject: "dev.booking.appointment.created.v1",
      data: encoder.encode("{}"),
      headers: {},
      stream: "DEV_BOOKING",
      streamSequence: ack.seq,
      consumer: "booking-service-projector",
      deliveryCount: 5,
      error: new Error("last attempt failed"),
    });
    advise(advisory(ack.seq));
    await waitFor(() => outcomes.length === 1);
    expect(outcomes[0]).toMatchObject({ kind: "dead-lettered", duplicate: true });
    expect(await dlq.list()).toHaveLength(1);
  });

  it("acks advisories that are not JSON or name a message that is gone", async () => {
    const { outcomes, advise, advisory, dlq } = await setup();
    advise("not json");
    advise(advisory(42));
    await waitFor(() => outcomes.length === 2);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(["gone", "invalid"]);
    expect(await dlq.list()).toEqual([]);
  });
});
