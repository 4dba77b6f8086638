import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { PGlite } from "@electric-sql/pglite";
import {
  AppointmentCancelled,
  AppointmentConfirmed,
  AppointmentCreated,
  Booking,
  type BookingStatus,
  bookingRegistry,
  createBookingRepository,
} from "@slotwise/booking";
import {
  ADVISORY_STREAM,
  type CloudEvent,
  createEventBus,
  createMemoryBroker,
  dlqStreamNameFor,
  ErrorCode,
  type EventBus,
  type EventStore,
  percentile,
  type Relay,
  SlotwiseError,
  streamNameFor,
  sweeperDurableFor,
  type Transport,
  toDeadLetter,
} from "@slotwise/events";
import { createNatsTransport } from "@slotwise/nats";
import {
  createPgliteEventStore,
  createPgliteRelay,
  createPostgresEventStore,
  createPostgresRelay,
} from "@slotwise/postgres";
import { type Command, Option } from "commander";
import { addConnectionOptions } from "../connection.js";
import { badMessages } from "./demo-bad-messages.js";

export const DEFAULT_DEMO_BOOKINGS = 100;
/** Bookings taken through their commands at once. */
export const DEFAULT_DEMO_CONCURRENCY = 8;
/** The whole flow must settle within this long. */
export const DEFAULT_DEMO_TIMEOUT_MS = 120_000;
/** The durable consumer's service and handler: `demo-appointments-by-state`. */
const SERVICE = "demo";
const HANDLER = "appointments-by-state";
const DOMAIN = "booking";

export interface DemoOptions {
  /** @default 100 */
  bookings?: number;
  /** NATS URL; with `postgres`, runs on the real servers. Absent both: embedded. */
  nats?: string;
  /** PostgreSQL URL. */
  postgres?: string;
  /** Environment prefix. @default "demo" embedded, "demo-<random>" on real servers */
  env?: string;
  /** Keep the streams and the schema of a run on real servers. @default false */
  keep?: boolean;
  /** Bookings taken through their commands at once. @default 8 on real servers, 1 embedded */
  concurrency?: number;
  /** @default 120000 */
  timeoutMs?: number;
  /** Progress lines. @default none */
  progress?: (line: string) => void;
}

export interface DemoReport {
  mode: "embedded" | "servers";
  env: string;
  /** The PostgreSQL schema (real servers) or "slotwise" (embedded PGlite). */
  schema: string;
  bookings: number;
  confirmed: number;
  cancelled: number;
  /** Events committed to the store. */
  appended: number;
  /** Events the relay brought to the stream (acknowledged, duplicates excluded). */
  published: number;
  /** Events the durable consumer handled into the read model. */
  handled: number;
  /** Messages in the dead-letter stream. */
  deadLetters: number;
  /** Malformed messages published raw. */
  injectedBad: number;
  /** Dead letters by error code. */
  deadLetterCodes: Record<string, number>;
  /** The read model: bookings by state. */
  readModel: Record<BookingStatus, number>;
  /** Commit → handled by the read model. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Commit → JetStream acknowledgement, as the relay measured it. */
  relayLagP99Ms: number;
  durationMs: number;
  /** appended = published = handled, every bad message dead-lettered and nothing else, read model right. */
  ok: boolean;
}

function randomSuffix(): string {
  return randomBytes(4).toString("hex");
}

interface Backend {
  mode: DemoReport["mode"];
  store: EventStore;
  schema: string;
  /** Connections of two "services": the booking service's relay and the read model's consumer. */
  relayTransport: Transport;
  busTransport: Transport;
  /** An outsider that publishes the malformed messages. */
  rogueTransport: Transport;
  relay(env: string, options: { onError: (err: unknown) => void }): Relay;
  /** Drops what the run created (streams, schema) unless kept, and closes everything. */
  close(env: string, keep: boolean): Promise<void>;
}

async function embedded(): Promise<Backend> {
  const pglite = await PGlite.create();
  const broker = createMemoryBroker();
  const store = createPgliteEventStore({ pglite });
  const relayTransport = broker.connect();
  return {
    mode: "embedded",
    store,
    schema: "slotwise",
    relayTransport,
    busTransport: broker.connect(),
    rogueTransport: broker.connect(),
    relay: (env, { onError }) =>
      createPgliteRelay({ pglite, store, transport: relayTransport, env, onError }),
    async close() {
      await store.close();
      await broker.close();
      await pglite.close();
    },
  };
}

async function servers(nats: string, postgres: string): Promise<Backend> {
  const schema = `demo_${randomSuffix()}`;
  const store = createPostgresEventStore({ connectionString: postgres, schema });
  const opened: Transport[] = [];
  try {
    for (let i = 0; i < 3; i++)
      opened.push(await createNatsTransport({ servers: nats, name: `slotwise-demo-${i}` }));
  } catch (err) {
    await Promise.all(opened.map((t) => t.close()));
    await store.close();
    throw err;
  }
  const [relayTransport, busTransport, rogueTransport] = opened as [Transport, Transport, Transport];
  return {
    mode: "servers",
    store,
    schema,
    relayTransport,
    busTransport,
    rogueTransport,
    relay: (env, { onError }) =>
      createPostgresRelay({
        connectionString: postgres,
        schema,
        store,
        transport: relayTransport,
        env,
        onError,
      }),
    async close(env, keep) {
      try {
        if (!keep) {
          await rogueTransport.deleteStream(streamNameFor(env, DOMAIN)).catch(() => false);
          await rogueTransport.deleteStream(dlqStreamNameFor(env)).catch(() => false);
          // The bus's dead-letter sweeper left a durable on the shared advisory stream for this env's stream.
          await rogueTransport
            .deleteConsumer(ADVISORY_STREAM, sweeperDurableFor(streamNameFor(env, DOMAIN)))
            .catch(() => false);
          // The store has no "drop" of its own: its transaction runs the SQL on its connection.
          await store.transaction((tx) => tx.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
        }
      } finally {
        await store.close();
        await Promise.all(opened.map((t) => t.close()));
      }
    },
  };
}

/** Runs `work` on `items` with at most `limit` at once. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i] as T, i);
    }
  });
  await Promise.all(lanes);
}

/** Calls `report` at most every `everyMs`, and always for the last item. */
function throttled(everyMs: number, report: (done: number, total: number) => void) {
  let last = 0;
  return (done: number, total: number) => {
    const now = performance.now();
    if (done === total || now - last >= everyMs) {
      last = now;
      report(done, total);
    }
  };
}

/**
 * The booking system end to end: `bookings` appointments through the booking aggregate (created, then
 * confirmed or cancelled), appended to the event store, relayed to the transport, handled by a durable
 * consumer into a read model of appointments by state; plus malformed messages published raw, which the
 * consumer dead-letters. Embedded (PGlite + in-process transport) unless `nats` and `postgres` are given.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const bookings = options.bookings ?? DEFAULT_DEMO_BOOKINGS;
  const real = options.nats !== undefined && options.postgres !== undefined;
  // PGlite is one connection: concurrent commands would only queue there, ahead of the relay's reads.
  const concurrency = options.concurrency ?? (real ? DEFAULT_DEMO_CONCURRENCY : 1);
  const timeoutMs = options.timeoutMs ?? DEFAULT_DEMO_TIMEOUT_MS;
  const progress = options.progress ?? (() => {});
  if (!Number.isInteger(bookings) || bookings < 1) {
    throw new SlotwiseError(
      ErrorCode.INVALID_OPTIONS,
      `--bookings must be a positive integer, got ${bookings}`,
    );
  }
  if ((options.nats === undefined) !== (options.postgres === undefined)) {
    throw new SlotwiseError(
      ErrorCode.INVALID_OPTIONS,
      "pass both --nats and --postgres (or NATS_URL and DATABASE_URL) for the real servers, or neither for embedded",
    );
  }
  const started = performance.now();
  progress(
    real
      ? `slotwise demo: NATS ${options.nats}, PostgreSQL ${redact(options.postgres as string)}`
      : "slotwise demo: embedded (in-process transport, PGlite in memory)",
  );
  const backend = real ? await servers(options.nats as string, options.postgres as string) : await embedded();
  const env = options.env ?? (real ? `demo-${randomSuffix()}` : "demo");

  const committedAt = new Map<string, number>();
  const handledAt = new Map<string, number>();
  const readModel = new Map<string, BookingStatus>();
  const relayErrors: unknown[] = [];
  let deadLettered = 0;
  let bus: EventBus | undefined;
  let relay: Relay | undefined;
  try {
    bus = createEventBus({
      transport: backend.busTransport,
      service: SERVICE,
      env,
      registry: bookingRegistry(),
      observer: {
        deadLettered: () => {
          deadLettered++;
        },
      },
    });
    bus.handle({
      name: HANDLER,
      types: [AppointmentCreated, AppointmentConfirmed, AppointmentCancelled],
      handler: (event: CloudEvent) => {
        // One booking's events arrive in order (same subject); a replay changes nothing.
        const current = readModel.get(event.subject);
        if (AppointmentCreated.is(event)) {
          if (current === undefined) readModel.set(event.subject, "pending");
        } else if (AppointmentConfirmed.is(event)) {
          if (current !== "cancelled") readModel.set(event.subject, "confirmed");
        } else if (AppointmentCancelled.is(event)) readModel.set(event.subject, "cancelled");
        if (!handledAt.has(event.id)) handledAt.set(event.id, performance.now());
      },
    });
    progress(
      `env ${env}: streams ${streamNameFor(env, DOMAIN)}, ${dlqStreamNameFor(env)}; durable ${SERVICE}-${HANDLER}`,
    );
    await bus.start();
    relay = backend.relay(env, { onError: (err) => relayErrors.push(err) });
    await relay.start();

    // The booking service: commands through the aggregate, saved through the repository.
    const repository = createBookingRepository({ store: backend.store });
    const ids = Array.from(
      { length: bookings },
      (_, i) => `bk-${String(i + 1).padStart(6, "0")}-${randomSuffix()}`,
    );
    let done = 0;
    let confirmed = 0;
    let cancelled = 0;
    const tick = throttled(250, (n, total) => progress(`bookings ${n}/${total}`));
    const day = Date.UTC(2030, 0, 1);
    await forEachLimited(ids, concurrency, async (id, i) => {
      const booking = new Booking(id);
      const start = new Date(day + i * 30 * 60_000);
      booking.create({
        customerId: `customer-${(i % 37) + 1}`,
        businessId: `business-${(i % 5) + 1}`,
        serviceId: `service-${(i % 3) + 1}`,
        startTime: start,
        endTime: new Date(start.getTime() + 30 * 60_000),
        amount: 2500 + (i % 10) * 500,
        currency: "EUR",
      });
      let saved = await repository.save(booking);
      for (const e of saved.events) committedAt.set(e.id, performance.now());
      if (i % 4 === 3) {
        booking.cancel("customer asked");
        cancelled++;
      } else {
        booking.confirm();
        confirmed++;
      }
      saved = await repository.save(booking);
      for (const e of saved.events) committedAt.set(e.id, performance.now());
      tick(++done, bookings);
      // PGlite answers without leaving the microtask queue: yield, so the relay and the consumer (timers,
      // I/O) run between commands, as they would beside a service taking requests.
      await yieldToEventLoop();
    });
    const appended = committedAt.size;

    // An outsider publishes malformed messages straight onto the booking stream's subjects.
    const bad = badMessages(env);
    for (const m of bad) await backend.rogueTransport.publish(m.message);
    progress(`injected ${bad.length} malformed messages (${bad.map((m) => m.expected).join(", ")})`);

    const deadline = Date.now() + timeoutMs;
    const wait = throttled(500, () =>
      progress(
        `relayed ${relay?.stats().published ?? 0}/${appended}, handled ${handledAt.size}/${appended}, dead letters ${deadLettered}/${bad.length}`,
      ),
    );
    while (handledAt.size < appended || deadLettered < bad.length) {
      if (Date.now() > deadline) {
        throw new SlotwiseError(
          ErrorCode.TIMEOUT,
          `the demo did not settle within ${timeoutMs} ms: handled ${handledAt.size}/${appended}, dead letters ${deadLettered}/${bad.length}`,
          { cause: relayErrors.at(-1), details: { relay: relay.stats() } },
        );
      }
      wait(0, 1);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await bus.drain();

    const dlq = await deadLetterCodes(backend.busTransport, dlqStreamNameFor(env));
    const relayStats = relay.stats();
    const latencies: number[] = [];
    for (const [id, handled] of handledAt) {
      const committed = committedAt.get(id);
      if (committed !== undefined) latencies.push(Math.max(0, handled - committed));
    }
    latencies.sort((a, b) => a - b);
    const states: Record<BookingStatus, number> = { pending: 0, confirmed: 0, cancelled: 0 };
    for (const s of readModel.values()) states[s]++;
    const report: DemoReport = {
      mode: backend.mode,
      env,
      schema: backend.schema,
      bookings,
      confirmed,
      cancelled,
      appended,
      published: relayStats.published - relayStats.duplicates,
      handled: handledAt.size,
      deadLetters: dlq.total,
      injectedBad: bad.length,
      deadLetterCodes: dlq.codes,
      readModel: states,
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(latencies.at(-1) ?? 0),
      relayLagP99Ms: round(relayStats.lag.p99Ms),
      durationMs: Math.round(performance.now() - started),
      ok: false,
    };
    const expectedCodes = countBy(bad.map((m) => m.expected));
    report.ok =
      report.appended === bookings * 2 &&
      report.published === report.appended &&
      report.handled === report.appended &&
      report.deadLetters === report.injectedBad &&
      sameCounts(report.deadLetterCodes, expectedCodes) &&
      states.confirmed === confirmed &&
      states.cancelled === cancelled &&
      states.pending === 0;
    return report;
  } finally {
    progress(real && options.keep ? `keeping env ${env} and schema ${backend.schema}` : "cleaning up");
    try {
      await relay?.stop();
      await bus?.drain();
    } finally {
      await backend.close(env, options.keep ?? false);
    }
  }
}

async function deadLetterCodes(
  transport: Transport,
  stream: string,
): Promise<{ total: number; codes: Record<string, number> }> {
  const info = await transport.streamInfo(stream);
  const codes: string[] = [];
  if (info && info.messages > 0) {
    for (let seq = info.firstSeq; seq <= info.lastSeq; seq++) {
      const stored = await transport.getMessage(stream, seq);
      if (stored) codes.push(toDeadLetter(stored).code);
    }
  }
  return { total: info?.messages ?? 0, codes: countBy(codes) };
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** A connection URL without its password, for progress lines. */
function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, "$1:***@");
}

/** The human-readable summary, one fact per line. */
export function formatDemoReport(r: DemoReport): string {
  const codes = Object.entries(r.deadLetterCodes)
    .map(([code, n]) => (n === 1 ? code : `${code} ×${n}`))
    .join(", ");
  const check = (good: boolean) => (good ? "ok" : "MISMATCH");
  return [
    `SlotWise demo (${r.mode === "embedded" ? "embedded: in-process transport + PGlite" : "NATS + PostgreSQL"}, env ${r.env})`,
    `  bookings      ${r.bookings} (${r.confirmed} confirmed, ${r.cancelled} cancelled)`,
    `  appended      ${r.appended} events, through the booking aggregate and the event store`,
    `  published     ${r.published} by the relay (commit → ack p99 ${r.relayLagP99Ms} ms)  ${check(r.published === r.appended)}`,
    `  handled       ${r.handled} by ${SERVICE}-${HANDLER}  ${check(r.handled === r.appended)}`,
    `  read model    ${r.readModel.pending} pending, ${r.readModel.confirmed} confirmed, ${r.readModel.cancelled} cancelled`,
    `  dead letters  ${r.deadLetters} of ${r.injectedBad} malformed messages injected (${codes || "none"})  ${check(r.deadLetters === r.injectedBad)}`,
    `  latency       commit → handled p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms`,
    `  took          ${(r.durationMs / 1000).toFixed(2)} s`,
    r.ok
      ? "OK: every event appended was published and handled once; every bad message is a dead letter."
      : "FAILED: see the mismatches above.",
  ].join("\n");
}

interface DemoCommandOptions {
  bookings: string;
  nats?: string;
  postgres?: string;
  env: string;
  json?: boolean;
  keep?: boolean;
  timeout: string;
}

export function registerDemo(program: Command): void {
  const cmd = program
    .command("demo")
    .description(
      "the booking system end to end: bookings through the aggregate, the event store, the relay, a durable consumer and its dead letters",
    )
    .option("--bookings <n>", "appointments to book", String(DEFAULT_DEMO_BOOKINGS))
    .option("--timeout <ms>", "fail when the flow has not settled by then", String(DEFAULT_DEMO_TIMEOUT_MS))
    .addOption(new Option("--json", "end the output with the report as one JSON line"))
    .addOption(new Option("--keep", "keep the run's streams and schema on the real servers"));
  addConnectionOptions(cmd, { embeddedDefault: true }).action(async (opts: DemoCommandOptions) => {
    const stderr = (line: string) => process.stderr.write(`${line}\n`);
    const report = await runDemo({
      bookings: Number(opts.bookings),
      ...(opts.nats !== undefined ? { nats: opts.nats } : {}),
      ...(opts.postgres !== undefined ? { postgres: opts.postgres } : {}),
      // An --env given on the command line wins; the default ("dev") would mix the demo into real streams.
      ...(cmd.getOptionValueSource("env") === "cli" ? { env: opts.env } : {}),
      keep: opts.keep ?? false,
      timeoutMs: Number(opts.timeout),
      progress: stderr,
    });
    process.stdout.write(`${formatDemoReport(report)}\n`);
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) process.exitCode = 1;
  });
}
