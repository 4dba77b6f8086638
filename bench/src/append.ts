/**
 * `npm run bench -- append`: events of about 600 bytes appended in four cases — 1 and 10 events per append,
 * one appender and 8 concurrent appenders (each on streams of its own) — through our PostgreSQL store, the
 * raw baseline (one multi-row INSERT through `pg`, the unique constraint catching conflicts) and Emmett's
 * `appendToStream`, every append with the expected version.
 *
 * Fairness on a shared machine: each contender writes into tables of its own; the work is cut into chunks
 * and the contenders take turns chunk by chunk (rotating who goes first), so a burst of load from elsewhere
 * hits all alike; a contender's rate is its events over its summed time. A warm-up comes first.
 *
 * Prints one JSON line per case on stdout; returns the one-event sequential case, printed last by main.ts.
 */
import type { PostgresEventStore as EmmettStore } from "@event-driven-io/emmett-postgresql";
import type { CloudEvent, EventStore } from "@slotwise/events";
import { createPostgresEventStore } from "@slotwise/postgres";
import type pg from "pg";
import { log, rate } from "./report.js";
import {
  averageWireBytes,
  bookingEvent,
  createPool,
  createRawSchema,
  dropSchema,
  openEmmett,
  rawAppendParams,
  rawAppendStatement,
  runId,
  toEmmett,
} from "./store-bench.js";

export const DEFAULT_APPEND_EVENTS = 100_000;
/** The one-event sequential case is slow on every contender (a commit per event). */
export const DEFAULT_APPEND_SEQUENTIAL_SINGLE_EVENTS = 20_000;
export const DEFAULT_APPEND_CONCURRENCY = 8;
/** Streams each appender cycles through. */
const STREAMS_PER_APPENDER = 50;
const WARMUP_EVENTS = 400;
/**
 * Events of one turn (all appenders together). Short turns (a quarter of a second or less here) make many
 * rounds, so a burst of load from elsewhere on a shared machine falls on every contender alike instead of
 * on one contender's long turn.
 */
const CHUNK_EVENTS = 1_000;

export interface AppendCase {
  perAppend: number;
  concurrency: number;
  events: number;
}

export interface AppendCaseResult {
  bench: "append";
  case: string;
  eventsPerAppend: number;
  concurrency: number;
  events: number;
  /** Events per second. */
  ours: number;
  baseline: number;
  ratio: number;
  emmett: number;
  vsEmmett: number;
}

export interface AppendBenchOptions {
  /** Multiplies every case's event count (for a quick run). @default $SLOTWISE_BENCH_SCALE or 1 */
  scale?: number;
  /** Prints each case's line (main.ts prints the returned one). @default writes to stdout */
  print?: (line: string) => void;
}

interface Contender {
  name: "ours" | "raw" | "emmett";
  /** Appends `events` to `streamId`, which is at `version`, expecting that version. */
  append(streamId: string, version: number, events: CloudEvent[]): Promise<void>;
}

function ours(store: EventStore): Contender {
  return {
    name: "ours",
    async append(streamId, version, events) {
      await store.append(streamId, events, { expectedVersion: version === 0 ? "no-stream" : version });
    },
  };
}

function raw(pool: pg.Pool, schema: string): Contender {
  const statements = new Map<number, string>();
  return {
    name: "raw",
    async append(streamId, version, events) {
      let text = statements.get(events.length);
      if (text === undefined) {
        text = rawAppendStatement(schema, events.length);
        statements.set(events.length, text);
      }
      await pool.query({
        name: `raw_append_${schema}_${events.length}`,
        text,
        values: rawAppendParams(streamId, version, events),
      });
    },
  };
}

function emmett(store: EmmettStore): Contender {
  return {
    name: "emmett",
    async append(streamId, version, events) {
      await store.appendToStream(streamId, events.map(toEmmett), { expectedStreamVersion: BigInt(version) });
    },
  };
}

/** One appender: its appends, each to its next stream, the versions tracked per contender. */
class Appender {
  readonly #versions = new Map<string, Map<string, number>>();
  constructor(
    readonly prefix: string,
    readonly perAppend: number,
  ) {}

  async run(c: Contender, events: CloudEvent[], from: number, to: number): Promise<void> {
    let versions = this.#versions.get(c.name);
    if (versions === undefined) {
      versions = new Map();
      this.#versions.set(c.name, versions);
    }
    for (let i = from; i < to; i += this.perAppend) {
      const streamId = streamOf(this.prefix, Math.floor(i / this.perAppend));
      const batch = events.slice(i, Math.min(i + this.perAppend, to));
      const version = versions.get(streamId) ?? 0;
      await c.append(streamId, version, batch);
      versions.set(streamId, version + batch.length);
    }
  }
}

/** The stream of an appender's append number `k`: it cycles through its streams. */
function streamOf(prefix: string, k: number): string {
  return `${prefix}-${k % STREAMS_PER_APPENDER}`;
}

function caseName(c: AppendCase): string {
  return `${c.perAppend}-per-append ${c.concurrency === 1 ? "sequential" : `${c.concurrency}-concurrent`}`;
}

async function runCase(
  id: string,
  index: number,
  c: AppendCase,
  contenders: Contender[],
): Promise<Record<Contender["name"], number>> {
  // Events per appender; each appender's streams are its own.
  const share = Math.ceil(c.events / c.concurrency / c.perAppend) * c.perAppend;
  const appenders = Array.from(
    { length: c.concurrency },
    (_, w) => new Appender(`c${index}-${id}-w${w}`, c.perAppend),
  );
  const events = appenders.map((a, w) =>
    Array.from({ length: share + WARMUP_EVENTS }, (_, i) =>
      bookingEvent(w * share + i, streamOf(a.prefix, Math.floor(i / c.perAppend))),
    ),
  );
  const runChunk = async (contender: Contender, from: number, to: number) => {
    await Promise.all(appenders.map((a, w) => a.run(contender, events[w] as CloudEvent[], from, to)));
  };
  // Warm-up: every contender, on the first events (their streams then hold a few events already).
  for (const contender of contenders) await runChunk(contender, 0, WARMUP_EVENTS);

  const ms: Record<string, number> = {};
  const chunk = Math.max(
    c.perAppend,
    Math.min(share, Math.round(CHUNK_EVENTS / c.concurrency / c.perAppend) * c.perAppend),
  );
  let round = 0;
  let lastLog = performance.now();
  for (let from = WARMUP_EVENTS; from < WARMUP_EVENTS + share; from += chunk, round++) {
    const to = Math.min(from + chunk, WARMUP_EVENTS + share);
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(round + k) % contenders.length] as Contender;
      const started = performance.now();
      await runChunk(contender, from, to);
      ms[contender.name] = (ms[contender.name] ?? 0) + performance.now() - started;
    }
    if (performance.now() - lastLog > 5_000) {
      lastLog = performance.now();
      const done = (to - WARMUP_EVENTS) * c.concurrency;
      log(
        `append ${caseName(c)}: ${done}/${share * c.concurrency} ${contenders
          .map((x) => `${x.name} ${Math.round(rate(done, ms[x.name] ?? 1))}/s`)
          .join(", ")}`,
      );
    }
  }
  const total = share * c.concurrency;
  return {
    ours: Math.round(rate(total, ms.ours ?? 1)),
    raw: Math.round(rate(total, ms.raw ?? 1)),
    emmett: Math.round(rate(total, ms.emmett ?? 1)),
  };
}

export async function runAppendBench(options: AppendBenchOptions = {}): Promise<AppendCaseResult> {
  const scale = options.scale ?? Number(process.env.SLOTWISE_BENCH_SCALE ?? 1);
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const n = (events: number) => Math.max(1_000, Math.round(events * scale));
  const concurrency = DEFAULT_APPEND_CONCURRENCY;
  // The last case is the one main.ts prints last: one event per append, sequential.
  const cases: AppendCase[] = [
    { perAppend: 10, concurrency: 1, events: n(DEFAULT_APPEND_EVENTS) },
    { perAppend: 1, concurrency, events: n(DEFAULT_APPEND_EVENTS) },
    { perAppend: 10, concurrency, events: n(DEFAULT_APPEND_EVENTS) },
    { perAppend: 1, concurrency: 1, events: n(DEFAULT_APPEND_SEQUENTIAL_SINGLE_EVENTS) },
  ];
  const id = runId();
  const oursSchema = `bench_append_${id}`;
  const rawSchema = `bench_append_raw_${id}`;
  const poolSize = concurrency + 2;
  const pool = createPool(poolSize);
  const storePool = createPool(poolSize);
  const store = createPostgresEventStore({ pool: storePool, schema: oursSchema });
  const sample = Array.from({ length: 100 }, (_, i) => bookingEvent(i, "sample"));
  log(
    `append: events of ${averageWireBytes(sample)} bytes on average; schemas ${oursSchema}, ${rawSchema}; Emmett in its own database`,
  );
  const em = await openEmmett(poolSize);
  try {
    await createRawSchema(pool, rawSchema);
    await store.version("warm-up"); // runs the store's migrations outside the measurement
    const contenders = [ours(store), raw(pool, rawSchema), emmett(em.store)];
    let last: AppendCaseResult | undefined;
    for (const [index, c] of cases.entries()) {
      log(`append: ${caseName(c)}, ${c.events} events`);
      const r = await runCase(id, index, c, contenders);
      const result: AppendCaseResult = {
        bench: "append",
        case: caseName(c),
        eventsPerAppend: c.perAppend,
        concurrency: c.concurrency,
        events: Math.ceil(c.events / c.concurrency / c.perAppend) * c.perAppend * c.concurrency,
        ours: r.ours,
        baseline: r.raw,
        ratio: Number((r.ours / r.raw).toFixed(3)),
        emmett: r.emmett,
        vsEmmett: Number((r.ours / r.emmett).toFixed(3)),
      };
      log(
        `append: ${result.case}: ours ${r.ours}/s, raw ${r.raw}/s (ratio ${result.ratio}), Emmett ${r.emmett}/s (×${result.vsEmmett})`,
      );
      if (index < cases.length - 1) print(JSON.stringify(result));
      last = result;
    }
    return last as AppendCaseResult;
  } finally {
    await store.close();
    await storePool.end();
    await em.close();
    await dropSchema(pool, oursSchema).catch(() => undefined);
    await dropSchema(pool, rawSchema).catch(() => undefined);
    await pool.end();
  }
}
