/**
 * `npm run bench -- consume`: 100,000 CloudEvents of about 600 bytes, published once into a fresh stream,
 * consumed by raw `@nats-io/jetstream` (`consume()` with a callback and `ack()`, its faster mode) and by our
 * full consumer chain (`createEventBus`: decode, validate, dedupe in memory, a no-op handler, ack), each
 * round on a fresh durable with the same config (ack wait, max deliver, `max_ack_pending`, pull batch).
 *
 * Each run is timed from its first message to its last (handled and acked), so start-up (consumer
 * lookup, the bus's dead-letter sweeper and watchdog) counts for neither side. A warm-up run of each side
 * comes first; then rounds rotate which side goes first, and the medians are reported, with each
 * round's own ratio (the machine's speed drifts between rounds; a round's runs are back to back).
 * A third side, raw nats.js that also parses each payload (`json()`), shows what the chain costs beyond
 * the least any consumer of JSON events does; it does not enter the headline ratio.
 *
 * Beside throughput, each run measures the consumer process's CPU per event over the same window: on a
 * small machine the server and the consumer share the cores, and the server's share is most of it. Given
 * the server's pid (CONSUME_SERVER_PID, a local `nats-server`), its CPU per event is logged too.
 *
 * Then the memory check: one bus consumer, in a process of its own (`consume-child.ts`), handles
 * 1,000,000 events (the stored 100,000, then nine passes of them re-published under new event ids), and
 * its resident memory is sampled after 100,000 and after 1,000,000 handled, each after a full GC.
 *
 * Environment overrides: NATS_URL, CONSUME_EVENTS, CONSUME_ROUNDS, CONSUME_MAX_IN_FLIGHT,
 * CONSUME_MEMORY_EVENTS (0 skips the memory check), CONSUME_SERVER_PID.
 */
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  ADVISORY_STREAM,
  advisoryStreamConfig,
  CLOUDEVENTS_CONTENT_TYPE,
  type CloudEvent,
  CONTENT_TYPE_HEADER,
  createEvent,
  createEventBus,
  createEventRegistry,
  DEFAULT_HANDLER_MAX_IN_FLIGHT,
  DEFAULT_RETRY,
  defineEvent,
  type EventBus,
  encodeEvent,
  sweeperDurableFor,
} from "@slotwise/events";
import { createNatsTransport, type NatsTransport } from "@slotwise/nats";
import { z } from "zod";
import { log, median, rate } from "./report.js";

export const DEFAULT_CONSUME_EVENTS = 100_000;
export const DEFAULT_CONSUME_ROUNDS = 5;
/** Events handled by the memory-check consumer; RSS is compared between `events` and this. */
export const DEFAULT_MEMORY_EVENTS = 1_000_000;
/** Resident memory may grow this much between the two samples. */
export const RSS_GROWTH_LIMIT = 0.2;
/** Publishes in flight while filling the stream. */
const PUBLISH_WINDOW = 256;
const ACK_WAIT_MS = 30_000;

export interface ConsumeBenchOptions {
  /** @default process.env.NATS_URL ?? "nats://127.0.0.1:4222" */
  servers?: string;
  /** Events in the stream, consumed per run. @default 100000 */
  events?: number;
  /** Alternating rounds after the warm-up; the median is reported. @default 5 */
  rounds?: number;
  /** `max_ack_pending` of every durable and the pull batch of both sides. @default 256 (the bus's default) */
  maxInFlight?: number;
  /** Events the memory-check consumer handles; 0 skips the check. @default 1000000 */
  memoryEvents?: number;
}

export interface ConsumeBenchResult {
  bench: "consume";
  /** Events per second through the full bus chain. */
  ours: number;
  /** Events per second through raw `@nats-io/jetstream` `consume()` + `ack()`. */
  baseline: number;
  ratio: number;
  /** ours/raw of each round (a round's runs are back to back), in round order. */
  rounds: number[];
  /**
   * Client CPU (all the process's threads: main, GC, libuv) per event over the timed window, median of
   * the rounds: what each side costs the consumer's machine, whatever the server and the neighbours do.
   */
  cpu: { unit: "µs/event"; ours: number; baseline: number };
  /**
   * Raw nats.js that also parses each payload (`json()`, then `ack()`): the least any consumer of JSON
   * events does. Its events/s, ours against it, and its client CPU per event.
   */
  parsed: { baseline: number; ratio: number; cpu: number };
  rss?: {
    unit: "MiB";
    /** Whether a full GC ran before each sample (`node --expose-gc`). */
    gc: boolean;
    rssAt100k: number;
    rssAt1M: number;
    /** (rssAt1M - rssAt100k) / rssAt100k */
    rssGrowth: number;
    heapUsedAt100k: number;
    heapUsedAt1M: number;
    /** rssGrowth ≤ 0.2 */
    flat: boolean;
    handled: number;
  };
}

const ENV = `bench${randomUUID().slice(0, 8)}`;
const STREAM = `${ENV.toUpperCase()}_BOOKING`;
const TYPE = "booking.appointment.confirmed.v1";
const SUBJECT = `${ENV}.${TYPE}`;
const SERVICE = "bench";

const BookingConfirmed = defineEvent({
  type: TYPE,
  schema: z.object({
    bookingId: z.string().min(1),
    businessId: z.string().min(1),
    customerId: z.string().min(1),
    serviceId: z.string().min(1),
    staffId: z.string().min(1),
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    price: z.object({ amount: z.number().int().nonnegative(), currency: z.string().length(3) }),
    channel: z.enum(["web", "mobile", "phone"]),
  }),
});

const SERVICES = ["haircut-45", "massage-60", "consult-30", "colour-90", "nails-30"];

/**
 * A booking confirmation of about 600 bytes on the wire. Its id starts with `00`, the digits `reId` rewrites,
 * so a later pass never repeats an id of pass 0 (the stream would drop it as a duplicate).
 */
function bookingConfirmed(i: number): CloudEvent {
  const start = new Date(Date.UTC(2025, 5, 2, 9, 0) + (i % 5_000) * 15 * 60_000);
  const bookingId = `bk_${randomUUID()}`;
  return createEvent({
    id: `00${randomUUID().slice(2)}`,
    type: TYPE,
    source: "booking-service",
    subject: bookingId,
    correlationid: randomUUID(),
    data: {
      bookingId,
      businessId: `biz_${(i % 97).toString().padStart(4, "0")}`,
      customerId: `cus_${(i * 7919).toString().padStart(8, "0")}`,
      serviceId: SERVICES[i % SERVICES.length],
      staffId: `stf_${(i % 23).toString().padStart(3, "0")}`,
      startsAt: start.toISOString(),
      endsAt: new Date(start.getTime() + 45 * 60_000).toISOString(),
      price: { amount: 4_500 + (i % 7) * 250, currency: "EUR" },
      channel: i % 3 === 0 ? "web" : "mobile",
    },
    metadata: { tenant: "acme" },
  });
}

/**
 * The stored events as wire bytes, plus where each event id sits in them, so a later pass can publish
 * the same events under new ids by overwriting the id's first two hex digits in place.
 */
interface Workload {
  bytes: Uint8Array[];
  idOffsets: number[];
  ids: string[];
}

function workload(n: number): Workload {
  const bytes: Uint8Array[] = [];
  const idOffsets: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const event = bookingConfirmed(i);
    const b = Buffer.from(encodeEvent(event));
    const at = b.indexOf(`"id":"${event.id}"`);
    if (at < 0) throw new Error("event id not found in its encoding");
    bytes.push(b);
    idOffsets.push(at + 6);
    ids.push(event.id);
  }
  return { bytes, idOffsets, ids };
}

/** Gives every event of the workload a new id for pass `pass` (1–255): its first two hex digits. */
function reId(w: Workload, pass: number): void {
  const hex = pass.toString(16).padStart(2, "0");
  const c0 = hex.charCodeAt(0);
  const c1 = hex.charCodeAt(1);
  for (let i = 0; i < w.bytes.length; i++) {
    const b = w.bytes[i]!;
    const at = w.idOffsets[i]!;
    b[at] = c0;
    b[at + 1] = c1;
    w.ids[i] = hex + w.ids[i]!.slice(2);
  }
}

/** Raw pipelined publishes with the headers our publisher sets (content type, msg id). */
async function publishAll(js: JetStreamClient, w: Workload): Promise<void> {
  const n = w.bytes.length;
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    const onAck = () => {
      done++;
      if (done === n) resolve();
      else if (next < n) send();
    };
    const send = () => {
      const i = next++;
      const h = headers();
      h.set(CONTENT_TYPE_HEADER, CLOUDEVENTS_CONTENT_TYPE);
      js.publish(SUBJECT, w.bytes[i]!, { msgID: w.ids[i]!, headers: h }).then(onAck, reject);
    };
    while (next < Math.min(PUBLISH_WINDOW, n)) send();
  });
}

/** The one durable config both sides consume with (the bus would create exactly this one). */
async function freshDurable(admin: NatsTransport, durable: string, maxInFlight: number): Promise<void> {
  await admin.ensureConsumer({
    stream: STREAM,
    durable,
    filterSubjects: [SUBJECT],
    ackWaitMs: ACK_WAIT_MS,
    maxDeliver: DEFAULT_RETRY.attempts,
    maxAckPending: maxInFlight,
    deliverPolicy: "all",
  });
}

/** Checks that every message was acknowledged, then removes the durable. */
async function finishDurable(admin: NatsTransport, durable: string, n: number, label: string): Promise<void> {
  for (let i = 0; ; i++) {
    const info = await admin.consumerInfo(STREAM, durable);
    if (info !== undefined && info.pending === 0 && info.ackPending === 0) break;
    if (i === 50) throw new Error(`${label}: ${JSON.stringify(info)} after ${n} events: not all acked`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await admin.deleteConsumer(STREAM, durable);
}

/** Our bus; raw nats.js consume-and-ack (the baseline); raw nats.js that also parses each payload. */
type Side = "ours" | "raw" | "json";
const SIDES: readonly Side[] = ["ours", "raw", "json"];
/** Each side's durable-name tag, all of one length (see `once`). */
const DURABLE_TAG: Record<Side, string> = { ours: "bus", raw: "raw", json: "jsn" };

/** One timed run: events per second and client CPU µs per event, both from the first message to the last. */
interface RunResult {
  eps: number;
  cpuUs: number;
  /** The server's CPU µs per event, when it is a local process we were told of (CONSUME_SERVER_PID). */
  serverCpuUs?: number;
}

const SERVER_PID = process.env.CONSUME_SERVER_PID;

/** CPU µs a local process has used (utime + stime from /proc, in clock ticks of 10 ms). */
function processCpuUs(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Marks the first and the last of `n` messages; `result()` is valid once the last was marked. */
function runClock(n: number): { mark(count: number): boolean; result(): RunResult } {
  let first = 0;
  let last = 0;
  let cpuFirst: NodeJS.CpuUsage | undefined;
  let cpuSpent: NodeJS.CpuUsage | undefined;
  let serverFirst = 0;
  let serverSpent = 0;
  return {
    mark(count) {
      if (count === 1) {
        first = performance.now();
        cpuFirst = process.cpuUsage();
        if (SERVER_PID) serverFirst = processCpuUs(SERVER_PID);
      } else if (count === n) {
        cpuSpent = process.cpuUsage(cpuFirst);
        if (SERVER_PID) serverSpent = processCpuUs(SERVER_PID) - serverFirst;
        last = performance.now();
        return true;
      }
      return false;
    },
    result() {
      const spent = cpuSpent!;
      return {
        eps: rate(n - 1, last - first),
        cpuUs: (spent.user + spent.system) / (n - 1),
        ...(SERVER_PID ? { serverCpuUs: serverSpent / (n - 1) } : {}),
      };
    },
  };
}

/**
 * Raw nats.js `consume()` with a callback: `ack()` alone (the baseline), or, with `parse`, `json()` then
 * `ack()`, the least any consumer of JSON events does.
 */
async function runRaw(
  js: JetStreamClient,
  durable: string,
  n: number,
  batch: number,
  parse: boolean,
): Promise<RunResult> {
  const consumer = await js.consumers.get(STREAM, durable);
  let count = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const clock = runClock(n);
  const messages = await consumer.consume({
    max_messages: batch,
    // Two callbacks rather than one testing `parse`: the baseline's stays the bare ack, with no branch per message.
    callback: parse
      ? (m) => {
          m.json();
          m.ack();
          if (clock.mark(++count)) done();
        }
      : (m) => {
          m.ack();
          if (clock.mark(++count)) done();
        },
  });
  await finished;
  await messages.close();
  return clock.result();
}

function registry() {
  return createEventRegistry().register(BookingConfirmed);
}

/** Our bus with one no-op handler on `durable`; `onHandled` sees the running count. */
async function startBus(
  servers: string,
  env: string,
  handlerName: string,
  maxInFlight: number,
  onHandled: (count: number) => void,
): Promise<EventBus> {
  const transport = await createNatsTransport({ servers, name: `bench-${handlerName}` });
  const bus = createEventBus({
    transport,
    service: SERVICE,
    env,
    registry: registry(),
    provision: false,
  });
  let count = 0;
  bus.handle({
    name: handlerName,
    types: [BookingConfirmed],
    maxInFlight,
    ackWaitMs: ACK_WAIT_MS,
    handler: () => {
      onHandled(++count);
    },
  });
  return bus;
}

async function runOurs(
  servers: string,
  handlerName: string,
  n: number,
  maxInFlight: number,
): Promise<RunResult> {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const clock = runClock(n);
  const bus = await startBus(servers, ENV, handlerName, maxInFlight, (count) => {
    if (clock.mark(count)) done();
  });
  await bus.start();
  await finished;
  await bus.close();
  return clock.result();
}

function gcFunction(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return g;
  try {
    // Not started with --expose-gc: expose it now (new contexts pick the flag up).
    setFlagsFromString("--expose-gc");
    const f = runInNewContext("gc") as unknown;
    return typeof f === "function" ? (f as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const MiB = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1));

interface Sample {
  rss: number;
  heapUsed: number;
}

async function sample(gc: (() => void) | undefined): Promise<Sample> {
  // Let acks flush and finished promises settle, then collect twice (the second pass frees what the
  // first one's finalizers released).
  await new Promise((r) => setTimeout(r, 200));
  gc?.();
  await new Promise((r) => setTimeout(r, 50));
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

/** What the bench tells the memory-check consumer process (its one argument, as JSON). */
export interface MemoryConsumerConfig {
  servers: string;
  env: string;
  handler: string;
  maxInFlight: number;
  /** Events per pass: the consumer reports each multiple of it. */
  pass: number;
  /** Handled counts after which it samples its memory (after a full GC). */
  sampleAt: number[];
}

/** Consumer → bench, over the IPC channel. */
export type MemoryConsumerReport =
  | { kind: "handled"; count: number; rss: number; heapUsed: number }
  | { kind: "sample"; count: number; rss: number; heapUsed: number; gc: boolean };

/**
 * The memory-check consumer, run in a process of its own (`consume-child.ts`), so that what it reports
 * is the resident memory of a consumer and of nothing else (the bench's publisher, workload, and the
 * throughput runs before stay in the parent). Ends when the parent disconnects.
 */
export async function runMemoryConsumer(config: MemoryConsumerConfig): Promise<void> {
  const send = (report: MemoryConsumerReport) => process.send?.(report);
  const gc = gcFunction();
  const samples = new Set(config.sampleAt);
  let pending = Promise.resolve();
  const bus = await startBus(config.servers, config.env, config.handler, config.maxInFlight, (count) => {
    if (count % config.pass !== 0 && !samples.has(count)) return;
    // Reported after the handler returned and the message was acked; samples wait for the consumer
    // to be idle (the parent publishes the next pass only after hearing of this one).
    pending = pending.then(async () => {
      if (samples.has(count)) {
        const s = await sample(gc);
        send({ kind: "sample", count, rss: s.rss, heapUsed: s.heapUsed, gc: gc !== undefined });
      }
      if (count % config.pass === 0) {
        const m = process.memoryUsage();
        send({ kind: "handled", count, rss: m.rss, heapUsed: m.heapUsed });
      }
    });
  });
  await bus.start();
  await new Promise<void>((resolve) => process.once("disconnect", resolve));
  await bus.close();
}

/**
 * One bus consumer, in a child process, handles `total` events: the `w` already stored, then passes of
 * the same events under new ids, each published once the previous pass is handled. Its resident memory
 * is sampled after `w.bytes.length` and after `total` handled.
 */
async function memoryCheck(
  servers: string,
  js: JetStreamClient,
  admin: NatsTransport,
  w: Workload,
  total: number,
  maxInFlight: number,
): Promise<NonNullable<ConsumeBenchResult["rss"]>> {
  const n = w.bytes.length;
  const passes = Math.ceil(total / n);
  if (passes > 255) throw new Error(`memory check: at most 255 passes of ${n} events`);
  const handler = "memory";
  await freshDurable(admin, `${SERVICE}-${handler}`, maxInFlight);
  const config: MemoryConsumerConfig = {
    servers,
    env: ENV,
    handler,
    maxInFlight,
    pass: n,
    sampleAt: [n, passes * n],
  };
  const child = fork(
    fileURLToPath(new URL("./consume-child.js", import.meta.url)),
    [JSON.stringify(config)],
    {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    },
  );
  const started = performance.now();
  try {
    const samples = new Map<number, MemoryConsumerReport & { kind: "sample" }>();
    // Reports arrive in order; each waiter takes the next one of its kind and count.
    const waiting = new Map<string, (r: MemoryConsumerReport) => void>();
    const arrived = new Map<string, MemoryConsumerReport>();
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code, signal) =>
        reject(new Error(`memory consumer exited early (code ${code}, signal ${signal})`)),
      ),
    );
    exited.catch(() => undefined); // observed through the races below; the normal exit at the end is fine
    child.on("message", (r: MemoryConsumerReport) => {
      const key = `${r.kind}:${r.count}`;
      const w = waiting.get(key);
      if (w) {
        waiting.delete(key);
        w(r);
      } else arrived.set(key, r);
    });
    const report = (kind: MemoryConsumerReport["kind"], count: number): Promise<MemoryConsumerReport> => {
      const key = `${kind}:${count}`;
      const r = arrived.get(key);
      if (r) return Promise.resolve(r);
      return Promise.race([
        new Promise<MemoryConsumerReport>((resolve) => waiting.set(key, resolve)),
        exited,
      ]);
    };
    for (let pass = 0; pass < passes; pass++) {
      if (pass > 0) {
        reId(w, pass);
        await publishAll(js, w);
      }
      const count = (pass + 1) * n;
      if (config.sampleAt.includes(count)) {
        const s = (await report("sample", count)) as MemoryConsumerReport & { kind: "sample" };
        samples.set(count, s);
        log(
          `consume: memory: ${count} handled, rss ${MiB(s.rss)} MiB, heap ${MiB(s.heapUsed)} MiB (after gc)`,
        );
      }
      const h = await report("handled", count);
      log(`consume: memory: ${count} handled, rss ${MiB(h.rss)} MiB, heap ${MiB(h.heapUsed)} MiB`);
    }
    const first = samples.get(n)!;
    const last = samples.get(passes * n)!;
    const growth = (last.rss - first.rss) / first.rss;
    log(
      `consume: memory: ${passes * n} handled in ${Math.round((performance.now() - started) / 1000)} s, ` +
        `rss ${MiB(first.rss)} → ${MiB(last.rss)} MiB, growth ${(growth * 100).toFixed(1)}%`,
    );
    return {
      unit: "MiB",
      gc: first.gc && last.gc,
      rssAt100k: MiB(first.rss),
      rssAt1M: MiB(last.rss),
      rssGrowth: Number(growth.toFixed(3)),
      heapUsedAt100k: MiB(first.heapUsed),
      heapUsedAt1M: MiB(last.heapUsed),
      flat: growth <= RSS_GROWTH_LIMIT,
      handled: passes * n,
    };
  } finally {
    if (child.connected) child.disconnect();
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child.kill();
          resolve();
        }, 10_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export async function runConsumeBench(options: ConsumeBenchOptions = {}): Promise<ConsumeBenchResult> {
  const servers = options.servers ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  const n = options.events ?? envInt("CONSUME_EVENTS") ?? DEFAULT_CONSUME_EVENTS;
  const rounds = options.rounds ?? envInt("CONSUME_ROUNDS") ?? DEFAULT_CONSUME_ROUNDS;
  const maxInFlight = options.maxInFlight ?? envInt("CONSUME_MAX_IN_FLIGHT") ?? DEFAULT_HANDLER_MAX_IN_FLIGHT;
  const memoryEvents = options.memoryEvents ?? envInt("CONSUME_MEMORY_EVENTS") ?? DEFAULT_MEMORY_EVENTS;

  log(`consume: building ${n} events`);
  const w = workload(n);
  const avg = Math.round(w.bytes.reduce((s, b) => s + b.length, 0) / n);
  log(`consume: ${n} events, ${avg} bytes on average, max_ack_pending/batch ${maxInFlight}, ${servers}`);

  const nc: NatsConnection = await connect({ servers, name: "bench-raw" });
  const js = jetstream(nc);
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const admin = await createNatsTransport({ servers, name: "bench-admin" });
  try {
    // Two stored passes at most: the memory check re-publishes under new ids, older passes roll off.
    await jsm.streams.add({ name: STREAM, subjects: [`${ENV}.booking.>`], num_replicas: 1, max_msgs: 2 * n });
    // The bus runs with `provision: false` (as the bench's durables are made here); its dead-letter sweeper
    // still needs the shared advisory stream, which a fresh server does not have yet.
    await admin.ensureStream(advisoryStreamConfig());
    const publishStarted = performance.now();
    await publishAll(js, w);
    log(
      `consume: published ${n} events at ${Math.round(rate(n, performance.now() - publishStarted))} events/s`,
    );

    let run = 0;
    const once = async (side: Side): Promise<RunResult> => {
      // Every durable named as the bus names its own, `{service}-{handler}`, in names of one length: the
      // durable name is part of every delivery's ack subject, which every side parses and sends back.
      const name = `${DURABLE_TAG[side]}-${++run}`;
      const durable = `${SERVICE}-${name}`;
      await freshDurable(admin, durable, maxInFlight);
      const result =
        side === "ours"
          ? await runOurs(servers, name, n, maxInFlight)
          : await runRaw(js, durable, n, maxInFlight, side === "json");
      await finishDurable(admin, durable, n, side);
      return result;
    };
    const show = (r: RunResult) =>
      `${Math.round(r.eps)} events/s, ${r.cpuUs.toFixed(2)} µs CPU/event` +
      (r.serverCpuUs === undefined ? "" : `, server ${r.serverCpuUs.toFixed(2)} µs/event`);

    log("consume: warming up");
    for (const side of SIDES) log(`consume: warm-up ${side.padEnd(4)} ${show(await once(side))}`);
    const runs: Record<Side, RunResult[]> = { ours: [], raw: [], json: [] };
    const ratios: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      // Rotate which side goes first, so none always runs on a warmer server cache.
      const order = SIDES.map((_, i) => SIDES[(i + r - 1) % SIDES.length]!);
      for (const side of order) {
        const timed = await once(side);
        runs[side].push(timed);
        log(`consume: round ${r} ${side.padEnd(4)} ${show(timed)}`);
      }
      ratios.push(Number((runs.ours[r - 1]!.eps / runs.raw[r - 1]!.eps).toFixed(3)));
      log(`consume: round ${r} ours/raw ${ratios[r - 1]!.toFixed(3)}`);
    }

    const eps = (side: Side) => Math.round(median(runs[side].map((r) => r.eps)));
    const cpu = (side: Side) => Number(median(runs[side].map((r) => r.cpuUs)).toFixed(2));
    const result: ConsumeBenchResult = {
      bench: "consume",
      ours: eps("ours"),
      baseline: eps("raw"),
      ratio: Number((eps("ours") / eps("raw")).toFixed(3)),
      rounds: ratios,
      cpu: { unit: "µs/event", ours: cpu("ours"), baseline: cpu("raw") },
      parsed: {
        baseline: eps("json"),
        ratio: Number((eps("ours") / eps("json")).toFixed(3)),
        cpu: cpu("json"),
      },
    };
    log(
      `consume: ours ${result.ours} events/s, raw ${result.baseline} events/s, ratio ${result.ratio}; ` +
        `client CPU ${result.cpu.ours} vs ${result.cpu.baseline} µs/event; ` +
        `raw with JSON.parse ${result.parsed.baseline} events/s (ours/that ${result.parsed.ratio}, ` +
        `${result.parsed.cpu} µs/event)`,
    );

    if (memoryEvents > 0) {
      log(`consume: memory: one consumer handles ${memoryEvents} events`);
      result.rss = await memoryCheck(servers, js, admin, w, memoryEvents, maxInFlight);
    }
    return result;
  } finally {
    await admin.deleteStream(STREAM).catch(() => false);
    await admin.deleteConsumer(ADVISORY_STREAM, sweeperDurableFor(STREAM)).catch(() => false);
    await admin.close();
    await nc.close();
  }
}
