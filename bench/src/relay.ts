/**
 * `npm run bench -- relay`: the outbox relay on PostgreSQL and NATS.
 *
 * 1. Throughput: 100,000 events of about 600 bytes already in the store; the relay (`createPostgresRelay`,
 *    defaults: batches of 1000, a window of 512 publishes, advisory-lock leadership, checkpoint per batch)
 *    publishes them all to JetStream, from a fresh checkpoint into a fresh stream. Baseline: the same events,
 *    encoded in advance, published raw through `@nats-io/jetstream` with the same window (no database at
 *    all; `noAsyncTraces` on). Rounds alternate who goes first; a side's rate is its events over its summed time.
 * 2. Lag: events appended one per append at 1,000 events/s for ten seconds while the relay runs live (woken
 *    by LISTEN/NOTIFY); the lag of each event runs from its commit (the store's `recorded_at`) to JetStream's
 *    acknowledgement, as the relay measures it. Goal: p99 under 50 ms.
 *
 * Returns one JSON line (printed by main.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import {
  CLOUDEVENTS_CONTENT_TYPE,
  type CloudEvent,
  CONTENT_TYPE_HEADER,
  encodeEvent,
  percentile,
  START,
  type StreamConfig,
} from "@slotwise/events";
import { createNatsTransport, natsConnectionOptions } from "@slotwise/nats";
import { createPostgresEventStore, createPostgresRelay, type PostgresEventStore } from "@slotwise/postgres";
import { log, rate } from "./report.js";
import { bookingEvent, createPool, databaseUrl, dropSchema, natsUrl, runId } from "./store-bench.js";

export const DEFAULT_RELAY_EVENTS = 100_000;
export const DEFAULT_RELAY_ROUNDS = 2;
/** The relay's default window, given to the raw side too. */
export const RELAY_WINDOW = 512;
export const LAG_RATE = 1_000;
export const LAG_SECONDS = 10;
const APPEND_BATCH = 100;
const WRITERS = 8;

export interface RelayBenchResult {
  bench: "relay";
  events: number;
  /** Events per second from the store to JetStream's acknowledgement. */
  ours: number;
  /** Events per second, raw pipelined publish of the same events. */
  baseline: number;
  ratio: number;
  /** Events per second appended during the lag run. */
  lagRate: number;
  lagEvents: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
}

export interface RelayBenchOptions {
  /** Multiplies the event counts and the lag run's duration. @default $SLOTWISE_BENCH_SCALE or 1 */
  scale?: number;
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

async function fill(store: PostgresEventStore, total: number, id: string): Promise<void> {
  const streams = Math.ceil(total / APPEND_BATCH);
  let next = 0;
  let done = 0;
  let lastLog = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < streams) {
        const s = next++;
        const streamId = `booking-${s}-${id}`;
        const count = Math.min(APPEND_BATCH, total - s * APPEND_BATCH);
        await store.append(
          streamId,
          Array.from({ length: count }, (_, i) => bookingEvent(s * APPEND_BATCH + i, streamId)),
        );
        done += count;
        if (performance.now() - lastLog > 5_000) {
          lastLog = performance.now();
          log(`relay: written ${done}/${total}`);
        }
      }
    }),
  );
}

export async function runRelayBench(options: RelayBenchOptions = {}): Promise<RelayBenchResult> {
  const scale = options.scale ?? Number(process.env.SLOTWISE_BENCH_SCALE ?? 1);
  const total = Math.max(2_000, Math.round(DEFAULT_RELAY_EVENTS * scale));
  const lagSeconds = Math.max(2, Math.round(LAG_SECONDS * Math.min(1, scale * 2)));
  const id = runId();
  const connectionString = databaseUrl();
  const schema = `bench_relay_${id}`;
  const lagSchema = `bench_relay_lag_${id}`;
  const admin = createPool(1);
  const store = createPostgresEventStore({ connectionString, schema, poolSize: WRITERS + 2 });
  const lagStore = createPostgresEventStore({ connectionString, schema: lagSchema, poolSize: 4 });
  const transport = await createNatsTransport({ servers: natsUrl(), name: "bench-relay" });
  // The raw side as fast as nats.js goes: `noAsyncTraces` is its own advice for request/reply-heavy loads.
  const nc = await connect({
    ...natsConnectionOptions({ servers: natsUrl(), name: "bench-relay-raw" }),
    noAsyncTraces: true,
  });
  const js = jetstream(nc);
  const envs: string[] = [];
  const freshStream = async (env: string) => {
    if (!envs.includes(env)) envs.push(env);
    await transport.deleteStream(streamFor(env).name);
    await transport.ensureStream(streamFor(env));
  };
  try {
    log(`relay: writing ${total} events into schema ${schema}`);
    await fill(store, total, id);
    // The raw side publishes the very events the relay reads, encoded in advance.
    const stored: CloudEvent[] = [];
    for (let after = START; ; ) {
      const page = await store.readAll({ after, limit: 5_000 });
      if (page.events.length === 0) break;
      for (const e of page.events) stored.push(e.event);
      after = page.checkpoint;
    }
    const bytes = stored.map(encodeEvent);
    log(
      `relay: ${stored.length} events of ${Math.round(bytes.reduce((s, b) => s + b.length, 0) / stored.length)} bytes`,
    );

    const oursEnv = `r${id}o`;
    const rawEnv = `r${id}r`;
    const runOurs = async (round: number): Promise<number> => {
      await freshStream(oursEnv);
      const started = performance.now();
      let acked = 0;
      let allAcked: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        allAcked = resolve;
      });
      const relay = createPostgresRelay({
        connectionString,
        schema,
        store,
        transport,
        env: oursEnv,
        name: `bench-${round}`,
        onEventPublished: () => {
          if (++acked === total) allAcked();
        },
      });
      await relay.start();
      await done;
      const ms = performance.now() - started;
      await relay.stop();
      return ms;
    };
    const runRaw = async (): Promise<number> => {
      await freshStream(rawEnv);
      const subject = `${rawEnv}.booking.appointment.confirmed.v1`;
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        let next = 0;
        let done = 0;
        const publishOne = (i: number) => {
          const h = headers();
          h.set(CONTENT_TYPE_HEADER, CLOUDEVENTS_CONTENT_TYPE);
          return js.publish(subject, bytes[i] as Uint8Array, {
            msgID: (stored[i] as CloudEvent).id,
            headers: h,
          });
        };
        const onAck = () => {
          if (++done === bytes.length) resolve();
          else if (next < bytes.length) publishOne(next++).then(onAck, reject);
        };
        while (next < Math.min(RELAY_WINDOW, bytes.length)) publishOne(next++).then(onAck, reject);
      });
      return performance.now() - started;
    };
    const ms = { ours: 0, raw: 0 };
    for (let round = 0; round <= DEFAULT_RELAY_ROUNDS; round++) {
      // Round 0 warms both up and is not counted.
      const order = round % 2 === 0 ? (["ours", "raw"] as const) : (["raw", "ours"] as const);
      for (const side of order) {
        const took = side === "ours" ? await runOurs(round) : await runRaw();
        if (round > 0) ms[side] += took;
        log(
          `relay: round ${round}${round === 0 ? " (warm-up)" : ""} ${side} ${Math.round(rate(total, took))}/s`,
        );
      }
      const infoOurs = await transport.streamInfo(streamFor(oursEnv).name);
      const infoRaw = await transport.streamInfo(streamFor(rawEnv).name);
      if (infoOurs?.messages !== total || infoRaw?.messages !== total) {
        throw new Error(
          `relay: the streams hold ${infoOurs?.messages} and ${infoRaw?.messages} messages, expected ${total}`,
        );
      }
    }
    const ours = Math.round(rate(total * DEFAULT_RELAY_ROUNDS, ms.ours));
    const baseline = Math.round(rate(total * DEFAULT_RELAY_ROUNDS, ms.raw));
    log(
      `relay: throughput ours ${ours}/s, raw publish ${baseline}/s (ratio ${(ours / baseline).toFixed(3)})`,
    );

    // --- lag at 1,000 events/s ---
    const lagEnv = `r${id}l`;
    await freshStream(lagEnv);
    const lags: number[] = [];
    const relay = createPostgresRelay({
      connectionString,
      schema: lagSchema,
      store: lagStore,
      transport,
      env: lagEnv,
      onEventPublished: (_event, _ack, lagMs) => {
        lags.push(lagMs);
      },
    });
    await lagStore.version("warm-up"); // migrations before the clock starts
    await relay.start();
    const lagEvents = LAG_RATE * lagSeconds;
    log(`relay: lag run, ${lagEvents} events at ${LAG_RATE}/s, one per append`);
    const started = performance.now();
    for (let i = 0; i < lagEvents; i++) {
      // Paced by the clock: event i is due at started + i ms; never more than due.
      const due = started + (i * 1000) / LAG_RATE;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(Math.floor(wait));
      const streamId = `lag-${i % 100}-${id}`;
      await lagStore.append(streamId, [bookingEvent(i, streamId)]);
    }
    const appendSeconds = (performance.now() - started) / 1000;
    const deadline = performance.now() + 30_000;
    while (relay.stats().published < lagEvents && performance.now() < deadline) await sleep(5);
    await relay.stop();
    if (lags.length !== lagEvents)
      throw new Error(`relay: ${lags.length} of ${lagEvents} lag-run events published`);
    lags.sort((a, b) => a - b);
    const result: RelayBenchResult = {
      bench: "relay",
      events: total,
      ours,
      baseline,
      ratio: Number((ours / baseline).toFixed(3)),
      lagRate: Math.round(lagEvents / appendSeconds),
      lagEvents,
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      lagMaxMs: lags[lags.length - 1] ?? 0,
    };
    log(
      `relay: lag at ${result.lagRate}/s: p50 ${result.lagP50Ms} ms, p99 ${result.lagP99Ms} ms, max ${result.lagMaxMs} ms`,
    );
    return result;
  } finally {
    for (const env of envs) await transport.deleteStream(streamFor(env).name).catch(() => false);
    await transport.close();
    await nc.close();
    await store.close();
    await lagStore.close();
    await dropSchema(admin, schema).catch(() => undefined);
    await dropSchema(admin, lagSchema).catch(() => undefined);
    await admin.end();
  }
}
