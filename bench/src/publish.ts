/**
 * `npm run bench -- publish`: 100,000 CloudEvents of about 600 bytes, published through our publisher
 * (`createPublisher` over the NATS transport) and through raw `@nats-io/jetstream` (`js.publish` with the
 * msg id and content type), with the same payload bytes, the same stream config and the same in-flight
 * window, in one run; then the same awaited one by one.
 *
 * Fairness on a shared, noisy machine:
 * - each side publishes into a stream of its own with the same config (file storage, R1), created fresh
 *   every round, so no side meets the other's duplicate ids or a fuller store;
 * - the work is cut into chunks and the sides take turns chunk by chunk (rotating who goes first), so a
 *   burst of load from elsewhere hits both sides alike; a side's rate is its events over its summed time;
 * - raw nats.js connects with the very connection options the transport uses, and a second raw baseline
 *   with `noAsyncTraces` (nats.js's own advice for fast request/reply) is reported beside it;
 * - a warm-up run of every side comes first, so the JIT has seen every path.
 * Ours encodes each event inside the publisher (that is its job); raw gets the bytes encoded in advance.
 */
import { randomUUID } from "node:crypto";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  CLOUDEVENTS_CONTENT_TYPE,
  type CloudEvent,
  CONTENT_TYPE_HEADER,
  createEvent,
  createPublisher,
  encodeEvent,
  type Publisher,
  type StreamConfig,
} from "@slotwise/events";
import { createNatsTransport, type NatsTransport, natsConnectionOptions } from "@slotwise/nats";
import { log, type PublishBenchResult, rate } from "./report.js";

export const DEFAULT_PUBLISH_EVENTS = 100_000;
export const DEFAULT_AWAITED_EVENTS = 10_000;
export const DEFAULT_WINDOW = 256;
export const DEFAULT_ROUNDS = 2;
const PIPELINED_CHUNK = 10_000;
const AWAITED_CHUNK = 1_000;
const WARMUP_EVENTS = 5_000;

export interface PublishBenchOptions {
  /** @default process.env.NATS_URL ?? "nats://127.0.0.1:4222" */
  servers?: string;
  /** Events per side and round, pipelined. @default 100000 */
  events?: number;
  /** Events per side and round, awaited one by one. @default 10000 */
  awaitedEvents?: number;
  /** In-flight publishes, the same for every side. @default 256 */
  window?: number;
  /** @default 2 */
  rounds?: number;
}

const SERVICES = ["haircut-45", "massage-60", "consult-30", "colour-90", "nails-30"];

/** A realistic booking confirmation, about 600 bytes on the wire. */
function bookingConfirmed(i: number): CloudEvent {
  const start = new Date(Date.UTC(2025, 5, 2, 9, 0) + (i % 5_000) * 15 * 60_000);
  const bookingId = `bk_${randomUUID()}`;
  return createEvent({
    type: "booking.appointment.confirmed.v1",
    source: "booking-service",
    subject: bookingId,
    correlationid: randomUUID(),
    data: {
      bookingId,
      businessId: `biz_${(i % 97).toString().padStart(4, "0")}`,
      customerId: `cus_${randomUUID()}`,
      serviceId: SERVICES[i % SERVICES.length],
      staffId: `stf_${i % 23}`,
      startsAt: start.toISOString(),
      price: { amount: 4_500 + (i % 7) * 250, currency: "EUR" },
    },
    metadata: { tenant: "acme" },
  });
}

/** One side of the comparison: publishes `events[from, to)` and resolves when all are acknowledged. */
interface Side {
  name: string;
  /** Environment prefix of its subjects, so its stream captures only its own events. */
  env: string;
  pipelined(from: number, to: number): Promise<void>;
  awaited(from: number, to: number): Promise<void>;
  /** Milliseconds spent, summed over chunks. */
  pipelinedMs: number;
  awaitedMs: number;
}

function streamFor(env: string): StreamConfig {
  return {
    name: `${env.toUpperCase()}_BOOKING`,
    subjects: [`${env}.booking.>`],
    storage: "file",
    replicas: 1,
    duplicateWindowMs: 120_000,
  };
}

/** Raw nats.js: a window of `js.publish` promises over the pre-encoded bytes. */
function rawSide(
  name: string,
  env: string,
  js: JetStreamClient,
  events: CloudEvent[],
  bytes: Uint8Array[],
  window: number,
): Side {
  const subject = `${env}.booking.appointment.confirmed.v1`;
  const publishOne = (i: number) => {
    const h = headers();
    h.set(CONTENT_TYPE_HEADER, CLOUDEVENTS_CONTENT_TYPE);
    return js.publish(subject, bytes[i]!, { msgID: events[i]!.id, headers: h });
  };
  return {
    name,
    env,
    pipelinedMs: 0,
    awaitedMs: 0,
    pipelined: (from, to) =>
      new Promise<void>((resolve, reject) => {
        let next = from;
        let done = from;
        const onAck = () => {
          if (++done === to) resolve();
          else if (next < to) publishOne(next++).then(onAck, reject);
        };
        while (next < Math.min(from + window, to)) publishOne(next++).then(onAck, reject);
      }),
    async awaited(from, to) {
      for (let i = from; i < to; i++) await publishOne(i);
    },
  };
}

/** Ours: the publisher over the NATS transport, in its documented pipelined and awaited uses. */
function oursSide(env: string, transport: NatsTransport, events: CloudEvent[], window: number): Side {
  const publisher: Publisher = createPublisher({ transport, env, maxInFlight: window });
  return {
    name: "ours",
    env,
    pipelinedMs: 0,
    awaitedMs: 0,
    async pipelined(from, to) {
      for (let i = from; i < to; i++) await publisher.publishAsync(events[i]!);
      await publisher.flush();
    },
    async awaited(from, to) {
      for (let i = from; i < to; i++) await publisher.publish(events[i]!);
    },
  };
}

/** Runs `[0, n)` in chunks, the sides taking turns chunk by chunk, rotating who goes first. */
async function interleaved(
  sides: Side[],
  n: number,
  chunk: number,
  run: (side: Side, from: number, to: number) => Promise<void>,
  add: (side: Side, ms: number) => void,
): Promise<void> {
  for (let from = 0, c = 0; from < n; from += chunk, c++) {
    const to = Math.min(from + chunk, n);
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(c + k) % sides.length]!;
      const started = performance.now();
      await run(side, from, to);
      add(side, performance.now() - started);
    }
  }
}

async function freshStreams(admin: NatsTransport, sides: Side[]): Promise<void> {
  for (const side of sides) {
    const config = streamFor(side.env);
    await admin.deleteStream(config.name);
    await admin.ensureStream(config);
  }
}

async function checkStored(admin: NatsTransport, sides: Side[], expected: number): Promise<void> {
  for (const side of sides) {
    const info = await admin.streamInfo(streamFor(side.env).name);
    if (info?.messages !== expected) {
      throw new Error(`${side.name}: its stream holds ${info?.messages} messages, expected ${expected}`);
    }
  }
}

export async function runPublishBench(options: PublishBenchOptions = {}): Promise<PublishBenchResult> {
  const servers = options.servers ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  const n = options.events ?? DEFAULT_PUBLISH_EVENTS;
  const nAwaited = Math.min(options.awaitedEvents ?? DEFAULT_AWAITED_EVENTS, n);
  const window = options.window ?? DEFAULT_WINDOW;
  const rounds = options.rounds ?? DEFAULT_ROUNDS;

  const events = Array.from({ length: n }, (_, i) => bookingConfirmed(i));
  const bytes = events.map(encodeEvent);
  const avg = Math.round(bytes.reduce((s, b) => s + b.length, 0) / n);
  log(`publish: ${n} events of ${avg} bytes on average, window ${window}, ${rounds} rounds, ${servers}`);

  const id = randomUUID().slice(0, 6);
  const connectionOptions = natsConnectionOptions({ servers, name: "bench-raw" });
  const nc: NatsConnection = await connect(connectionOptions);
  const ncTuned: NatsConnection = await connect({
    ...connectionOptions,
    name: "bench-raw-tuned",
    noAsyncTraces: true,
  });
  const transport = await createNatsTransport({ servers, name: "bench-ours" });
  const admin = await createNatsTransport({ servers, name: "bench-admin" });
  const raw = rawSide("raw", `b${id}r`, jetstream(nc), events, bytes, window);
  const tuned = rawSide("raw-tuned", `b${id}t`, jetstream(ncTuned), events, bytes, window);
  const ours = oursSide(`b${id}o`, transport, events, window);
  const sides = [raw, ours, tuned];
  try {
    log("publish: warming up");
    await freshStreams(admin, sides);
    const warm = Math.min(WARMUP_EVENTS, n);
    for (const side of sides) {
      await side.pipelined(0, warm);
      // the same ids again: acknowledged as duplicates, which is fine for warming up the awaited path
      await side.awaited(0, Math.min(500, warm));
    }

    for (let r = 1; r <= rounds; r++) {
      await freshStreams(admin, sides);
      await interleaved(
        sides,
        n,
        PIPELINED_CHUNK,
        (side, from, to) => side.pipelined(from, to),
        (side, ms) => {
          side.pipelinedMs += ms;
        },
      );
      await checkStored(admin, sides, n);
      log(
        `publish: round ${r} pipelined so far ${sides.map((s) => `${s.name} ${Math.round(rate(n * r, s.pipelinedMs))}/s`).join(", ")}`,
      );
    }
    const awaitedSides = [raw, ours];
    for (let r = 1; r <= rounds; r++) {
      await freshStreams(admin, awaitedSides);
      await interleaved(
        awaitedSides,
        nAwaited,
        AWAITED_CHUNK,
        (side, from, to) => side.awaited(from, to),
        (side, ms) => {
          side.awaitedMs += ms;
        },
      );
      await checkStored(admin, awaitedSides, nAwaited);
      log(
        `publish: round ${r} awaited so far ${awaitedSides.map((s) => `${s.name} ${Math.round(rate(nAwaited * r, s.awaitedMs))}/s`).join(", ")}`,
      );
    }

    const eps = (side: Side) => Math.round(rate(n * rounds, side.pipelinedMs));
    const awaitedEps = (side: Side) => Math.round(rate(nAwaited * rounds, side.awaitedMs));
    const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
    return {
      bench: "publish",
      ours: eps(ours),
      baseline: eps(raw),
      ratio: ratio(eps(ours), eps(raw)),
      awaited: {
        ours: awaitedEps(ours),
        baseline: awaitedEps(raw),
        ratio: ratio(awaitedEps(ours), awaitedEps(raw)),
      },
      tuned: { baseline: eps(tuned), ratio: ratio(eps(ours), eps(tuned)) },
    };
  } finally {
    for (const side of sides) await admin.deleteStream(streamFor(side.env).name).catch(() => false);
    await admin.close();
    await transport.close();
    await nc.close();
    await ncTuned.close();
  }
}
