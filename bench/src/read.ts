/**
 * `npm run bench -- read`: one 10,000-event stream read back (`store.read`), and `readAll` over a log of
 * 100,000 events, each against a plain `SELECT` through `pg` of the same rows of the same table (stream:
 * by stream id in version order; log: keyset pages of the same size in key order). Emmett's `readStream`
 * of the same 10,000 events (in its own database) is printed beside.
 *
 * The contenders take turns read by read (rotating who goes first); a rate is events over summed time.
 * Prints the stream case as a JSON line; returns the readAll case (with the stream case inside), printed
 * last by main.ts.
 */
import type { CloudEvent } from "@slotwise/events";
import { createPostgresEventStore, type PostgresEventStore } from "@slotwise/postgres";
import type pg from "pg";
import { log, rate } from "./report.js";
import { bookingEvent, createPool, dropSchema, openEmmett, runId, toEmmett } from "./store-bench.js";

export const DEFAULT_READ_STREAM_EVENTS = 10_000;
export const DEFAULT_READ_ALL_EVENTS = 100_000;
/** Page size of both log readers (the store's default `readAll` limit). */
export const READ_ALL_PAGE = 1_000;
const STREAM_ROUNDS = 10;
/** Rounds after the warm-up; each reads the whole log once per side (about a second), turn by turn. */
const READ_ALL_ROUNDS = 6;
const APPEND_BATCH = 100;
const WRITERS = 8;

export interface ReadCaseResult {
  ours: number;
  baseline: number;
  ratio: number;
}

export interface ReadBenchResult extends ReadCaseResult {
  bench: "read";
  case: "readAll";
  events: number;
  stream: ReadCaseResult & { events: number; emmett: number; vsEmmett: number };
}

export interface ReadBenchOptions {
  /** Multiplies the event counts. @default $SLOTWISE_BENCH_SCALE or 1 */
  scale?: number;
  print?: (line: string) => void;
}

const COLUMNS =
  "position::text AS position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, transaction_id::text AS transaction_id";

async function fill(
  store: PostgresEventStore,
  streams: { id: string; events: number }[],
  progress: (done: number) => void,
): Promise<void> {
  let done = 0;
  const work = streams.flatMap((s) =>
    Array.from({ length: Math.ceil(s.events / APPEND_BATCH) }, (_, k) => ({
      id: s.id,
      from: k * APPEND_BATCH,
      count: Math.min(APPEND_BATCH, s.events - k * APPEND_BATCH),
    })),
  );
  // Appends of one stream stay in order (one writer per stream); streams are spread over the writers.
  const byWriter = Array.from({ length: WRITERS }, () => [] as typeof work);
  const writerOf = new Map<string, number>();
  for (const w of work) {
    let writer = writerOf.get(w.id);
    if (writer === undefined) {
      writer = writerOf.size % WRITERS;
      writerOf.set(w.id, writer);
    }
    byWriter[writer]?.push(w);
  }
  await Promise.all(
    byWriter.map(async (list) => {
      for (const w of list) {
        const events = Array.from({ length: w.count }, (_, i) => bookingEvent(w.from + i, w.id));
        await store.append(w.id, events);
        done += w.count;
        progress(done);
      }
    }),
  );
}

export async function runReadBench(options: ReadBenchOptions = {}): Promise<ReadBenchResult> {
  const scale = options.scale ?? Number(process.env.SLOTWISE_BENCH_SCALE ?? 1);
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const streamEvents = Math.max(1_000, Math.round(DEFAULT_READ_STREAM_EVENTS * scale));
  const logEvents = Math.max(streamEvents * 2, Math.round(DEFAULT_READ_ALL_EVENTS * scale));
  const id = runId();
  const schema = `bench_read_${id}`;
  const pool: pg.Pool = createPool(WRITERS + 2);
  const storePool = createPool(WRITERS + 2);
  const store = createPostgresEventStore({ pool: storePool, schema });
  const em = await openEmmett(4);
  const big = `booking-big-${id}`;
  try {
    // The log: the big stream plus streams of 100 events, 100,000 events in all.
    const others = Array.from({ length: Math.ceil((logEvents - streamEvents) / 100) }, (_, i) => ({
      id: `booking-${i}-${id}`,
      events: 100,
    }));
    const total = streamEvents + others.reduce((s, o) => s + o.events, 0);
    log(`read: writing ${total} events (one stream of ${streamEvents}) into schema ${schema}`);
    let lastLog = 0;
    await fill(store, [{ id: big, events: streamEvents }, ...others], (done) => {
      if (performance.now() - lastLog > 5_000) {
        lastLog = performance.now();
        log(`read: written ${done}/${total}`);
      }
    });
    // Fresh statistics, as autovacuum would gather them on a table that grew this much: without them the
    // planner may scan the whole table for one page.
    await pool.query(`ANALYZE "${schema}".events`);
    log(`read: writing the ${streamEvents}-event stream into Emmett's database`);
    let version = 0n;
    for (let from = 0; from < streamEvents; from += APPEND_BATCH) {
      const events: CloudEvent[] = Array.from(
        { length: Math.min(APPEND_BATCH, streamEvents - from) },
        (_, i) => bookingEvent(from + i, big),
      );
      const r = await em.store.appendToStream(big, events.map(toEmmett), { expectedStreamVersion: version });
      version = r.nextExpectedStreamVersion;
    }

    // --- one stream ---
    const streamSql = {
      name: `read_stream_${id}`,
      text: `SELECT ${COLUMNS} FROM "${schema}".events WHERE stream_id = $1 ORDER BY stream_version`,
    };
    const streamSides: Record<string, () => Promise<number>> = {
      ours: async () => (await store.read(big)).length,
      raw: async () => (await pool.query({ ...streamSql, values: [big] })).rows.length,
      emmett: async () => (await em.store.readStream(big)).events.length,
    };
    const streamMs = await turns(streamSides, STREAM_ROUNDS + 1, streamEvents);
    const stream = {
      events: streamEvents,
      ours: Math.round(rate(streamEvents * STREAM_ROUNDS, streamMs.ours ?? 1)),
      baseline: Math.round(rate(streamEvents * STREAM_ROUNDS, streamMs.raw ?? 1)),
      emmett: Math.round(rate(streamEvents * STREAM_ROUNDS, streamMs.emmett ?? 1)),
      ratio: 0,
      vsEmmett: 0,
    };
    stream.ratio = Number((stream.ours / stream.baseline).toFixed(3));
    stream.vsEmmett = Number((stream.ours / stream.emmett).toFixed(3));
    log(
      `read: stream of ${streamEvents}: ours ${stream.ours}/s, raw ${stream.baseline}/s (ratio ${stream.ratio}), Emmett ${stream.emmett}/s`,
    );
    print(JSON.stringify({ bench: "read", case: "stream", ...stream }));

    // --- the whole log, in pages ---
    // Keyset pages in the table's key order, (transaction id, position): the store's guard against
    // transactions still running (`pg_snapshot_xmin`) is what the plain SELECT leaves out.
    const pageSql = {
      name: `read_page_${id}`,
      text: `SELECT ${COLUMNS} FROM "${schema}".events AS e WHERE (e.transaction_id, e.position) > ($1::xid8, $2::bigint)
ORDER BY e.transaction_id, e.position LIMIT $3`,
    };
    const allSides: Record<string, () => Promise<number>> = {
      async ours() {
        let n = 0;
        let after = { transactionId: 0n, position: 0n };
        for (;;) {
          const page = await store.readAll({ after, limit: READ_ALL_PAGE });
          if (page.events.length === 0) return n;
          n += page.events.length;
          after = page.checkpoint;
        }
      },
      async raw() {
        let n = 0;
        let after = { transaction_id: "0", position: "0" };
        for (;;) {
          const { rows } = await pool.query<{ position: string; transaction_id: string }>({
            ...pageSql,
            values: [after.transaction_id, after.position, READ_ALL_PAGE],
          });
          if (rows.length === 0) return n;
          n += rows.length;
          after = rows[rows.length - 1] as { position: string; transaction_id: string };
        }
      },
    };
    const allMs = await turns(allSides, READ_ALL_ROUNDS + 1, total);
    const ours = Math.round(rate(total * READ_ALL_ROUNDS, allMs.ours ?? 1));
    const baseline = Math.round(rate(total * READ_ALL_ROUNDS, allMs.raw ?? 1));
    const result: ReadBenchResult = {
      bench: "read",
      case: "readAll",
      events: total,
      ours,
      baseline,
      ratio: Number((ours / baseline).toFixed(3)),
      stream,
    };
    log(`read: readAll of ${total}: ours ${ours}/s, raw ${baseline}/s (ratio ${result.ratio})`);
    return result;
  } finally {
    await store.close();
    await storePool.end();
    await em.close();
    await dropSchema(pool, schema).catch(() => undefined);
    await pool.end();
  }
}

/**
 * Runs each side `rounds` times, taking turns (rotating who goes first); the first round is a warm-up and
 * is not counted. Checks every read returned `expected` events. Returns each side's summed milliseconds.
 */
async function turns(
  sides: Record<string, () => Promise<number>>,
  rounds: number,
  expected: number,
): Promise<Record<string, number>> {
  const names = Object.keys(sides);
  const ms: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length] as string;
      const started = performance.now();
      const n = await (sides[name] as () => Promise<number>)();
      const took = performance.now() - started;
      if (n !== expected) throw new Error(`read: ${name} returned ${n} events, expected ${expected}`);
      if (r > 0) ms[name] = (ms[name] ?? 0) + took;
    }
  }
  return ms;
}
