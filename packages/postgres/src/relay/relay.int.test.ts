import { fileURLToPath } from "node:url";
import { createEvent, decodeEvent, type EventStore, type Relay, type Transport } from "@slotwise/events";
import { runRelayConformance, spawnChildProcess, uniqueId, waitFor } from "@slotwise/events/testing";
import { createNatsTransport } from "@slotwise/nats";
import pg from "pg";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { createPostgresEventStore } from "../postgres-event-store.js";
import { createPostgresLeaderLock, LEADER_LOCK_NAMESPACE } from "./advisory-lock.js";
import { createPostgresCheckpointStore, createPostgresRelay } from "./postgres-relay.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const pool = new pg.Pool({ connectionString, max: 12 });
pool.on("error", () => {});
afterAll(async () => {
  await pool.end();
});

runRelayConformance(
  "PostgreSQL + NATS",
  {
    async setup() {
      const schema = `relay_${uniqueId()}`;
      const store = createPostgresEventStore({ pool, schema });
      const checkpoints = createPostgresCheckpointStore({ pool, schema });
      const transport = await createNatsTransport({ servers });
      return {
        store,
        transport,
        checkpoints,
        lock: () => createPostgresLeaderLock({ connectionString, schema }),
        async cleanup() {
          await checkpoints.close();
          await store.close();
          await transport.close();
          await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        },
      };
    },
  },
  { listen: true },
);

const CHILD = fileURLToPath(new URL("./fixtures/relay-child.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../../dist/relay/index.js", import.meta.url));
const TYPE = "relaykill.item.added.v1";

interface ChildLine {
  state?: string;
  published?: number;
  duplicates?: number;
  batches?: number;
  crashing?: boolean;
}

/** A relay process over `schema`, publishing to `env`; its stats lines are collected. */
function spawnRelay(schema: string, env: string, extra: Record<string, string> = {}) {
  const child = spawnChildProcess<ChildLine>({
    script: CHILD,
    requires: [BUILT],
    env: {
      DATABASE_URL: connectionString,
      NATS_URL: servers,
      RELAY_SCHEMA: schema,
      RELAY_ENV: env,
      RELAY_BATCH_SIZE: "100",
      ...extra,
    },
  });
  return { ...child, last: (): ChildLine => child.lines.filter((l) => l.state !== undefined).at(-1) ?? {} };
}

/** A schema, an env and its stream, a store and a transport, all gone after the test. */
async function world() {
  const schema = `relaykill_${uniqueId()}`;
  const env = `rk${uniqueId(8)}`;
  const stream = `${env.toUpperCase()}_RELAYKILL`;
  const store: EventStore = createPostgresEventStore({ pool, schema });
  const transport: Transport = await createNatsTransport({ servers });
  await transport.ensureStream({ name: stream, subjects: [`${env}.relaykill.>`], storage: "memory" });
  onTestFinished(async () => {
    await transport.deleteStream(stream).catch(() => false);
    await transport.close();
    await store.close();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });
  const append = async (count: number, perAppend = 10): Promise<string[]> => {
    const ids: string[] = [];
    const streamId = `item-${uniqueId(8)}`;
    for (let i = 0; i < count; i += perAppend) {
      const events = Array.from({ length: Math.min(perAppend, count - i) }, (_, k) =>
        createEvent({ type: TYPE, source: "relay-int", subject: streamId, data: { n: i + k } }),
      );
      await store.append(streamId, events);
      ids.push(...events.map((e) => e.id));
    }
    return ids;
  };
  const count = async () => (await transport.streamInfo(stream))?.messages ?? 0;
  /** Event ids in the stream, in stream order. */
  const ids = async (): Promise<string[]> => {
    const info = await transport.streamInfo(stream);
    const out: string[] = [];
    if (!info) return out;
    for (let seq = info.firstSeq; seq <= info.lastSeq && info.messages > 0; seq++) {
      const m = await transport.getMessage(stream, seq);
      if (m) out.push(decodeEvent(m.data).id);
    }
    return out;
  };
  const relay = (options: { standbyRetryMs?: number } = {}): Relay => {
    const r = createPostgresRelay({
      connectionString,
      schema,
      store,
      transport,
      env,
      pollIntervalMs: 50,
      standbyRetryMs: options.standbyRetryMs ?? 50,
      retryDelayMs: 20,
      maxRetryDelayMs: 200,
    });
    onTestFinished(() => r.stop());
    return r;
  };
  return { schema, env, stream, store, transport, append, count, ids, relay };
}

describe("relay on PostgreSQL + NATS, in processes of its own", () => {
  it("killed between publishing and saving its checkpoint, it restarts and every event is in the stream exactly once", async () => {
    const w = await world();
    const appended = await w.append(500);
    const checkpoints = createPostgresCheckpointStore({ pool, schema: w.schema });

    // Dies after the acks of its third batch of 100, before saving that batch's checkpoint.
    const crashing = spawnRelay(w.schema, w.env, { SLOTWISE_RELAY_CRASH_AFTER_PUBLISH: "3" });
    const exit = await crashing.exited;
    expect(exit.signal, crashing.stderr()).toBe("SIGKILL");
    expect(crashing.lines.some((l) => l.crashing)).toBe(true);
    expect(await w.count()).toBe(300);
    // The checkpoint covers two batches only: the third was published but not recorded.
    const log = await w.store.readAll({ limit: 1000 });
    const second = log.events[199];
    expect(await checkpoints.load("relay")).toEqual({
      transactionId: second?.transactionId,
      position: second?.position,
    });

    const restarted = spawnRelay(w.schema, w.env);
    await waitFor(() => restarted.last().published === 300 && restarted.last().batches === 3, {
      timeoutMs: 20_000,
      message: "the restarted relay publishes the last three batches",
    });
    restarted.kill("SIGTERM");
    expect((await restarted.exited).code, restarted.stderr()).toBe(0);
    // The third batch went out twice; the server dropped the second copy (same Nats-Msg-Id).
    expect(restarted.last().duplicates).toBe(100);
    expect(await w.ids()).toEqual(appended);
    const last = log.events[499];
    expect(await checkpoints.load("relay")).toEqual({
      transactionId: last?.transactionId,
      position: last?.position,
    });
    await checkpoints.close();
  });

  it("a standby takes over when the active relay's process is killed", async () => {
    const w = await world();
    const active = spawnRelay(w.schema, w.env);
    await waitFor(() => active.last().state === "active", { message: "the child relay is active" });
    const standby = w.relay();
    await standby.start();

    const first = await w.append(50);
    const checkpoints = createPostgresCheckpointStore({ pool, schema: w.schema });
    onTestFinished(() => checkpoints.close());
    const head = (await w.store.readAll()).checkpoint;
    await waitFor(
      async () =>
        active.last().published === 50 && (await checkpoints.load("relay"))?.position === head.position,
      {
        message: "the child relay published and recorded the first events",
      },
    );
    expect(standby.stats().state).toBe("standby");
    expect(standby.stats().published).toBe(0);

    active.kill("SIGKILL");
    await active.exited;
    const second = await w.append(50);
    await waitFor(async () => standby.stats().state === "active" && (await w.count()) === 100, {
      timeoutMs: 20_000,
      message: "the standby took over",
    });
    await waitFor(() => standby.stats().published === 50);
    expect(await w.ids()).toEqual([...first, ...second]);
  });

  it("a relay whose lock connection is terminated stands by, takes the lock again and goes on", async () => {
    const w = await world();
    const r = w.relay();
    await r.start();
    const first = await w.append(20);
    await waitFor(() => r.stats().published === 20);
    const { rows } = await pool.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid
         AND objid::bigint = (hashtext($2)::bigint & 4294967295) AND granted`,
      [LEADER_LOCK_NAMESPACE, `${w.schema}.relay`],
    );
    expect(rows).toHaveLength(1);
    await pool.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
    await waitFor(() => r.stats().activations === 2 && r.stats().state === "active", {
      message: "the relay took its lock again",
    });
    const second = await w.append(20);
    await waitFor(async () => (await w.count()) === 40);
    expect(await w.ids()).toEqual([...first, ...second]);
  });
});

describe("PostgreSQL checkpoints and leader locks", () => {
  it("stores checkpoints per name and never moves one backwards", async () => {
    const schema = `relaycp_${uniqueId()}`;
    const checkpoints = createPostgresCheckpointStore({ pool, schema });
    onTestFinished(async () => {
      await checkpoints.close();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
    expect(await checkpoints.load("a")).toBeUndefined();
    const big = 2n ** 40n;
    await checkpoints.save("a", { transactionId: big, position: 10n });
    await checkpoints.save("a", { transactionId: big, position: 9n });
    await checkpoints.save("a", { transactionId: big - 1n, position: 99n });
    expect(await checkpoints.load("a")).toEqual({ transactionId: big, position: 10n });
    await checkpoints.save("a", { transactionId: big + 1n, position: 1n });
    expect(await checkpoints.load("a")).toEqual({ transactionId: big + 1n, position: 1n });
    expect(await checkpoints.load("b")).toBeUndefined();
  });

  it("lets one session hold a name per schema; release frees it", async () => {
    const schema = `relaylk_${uniqueId()}`;
    const a = createPostgresLeaderLock({ connectionString, schema });
    const b = createPostgresLeaderLock({ pool, schema });
    const other = createPostgresLeaderLock({ connectionString, schema: `${schema}_x` });
    onTestFinished(async () => {
      await a.release();
      await b.release();
      await other.release();
    });
    expect(await a.acquire("relay")).toBe(true);
    expect(await a.acquire("relay")).toBe(true);
    expect(await b.acquire("relay")).toBe(false);
    expect(await other.acquire("relay")).toBe(true);
    expect([a.held, b.held, other.held]).toEqual([true, false, true]);
    await a.release();
    expect(a.held).toBe(false);
    expect(await b.acquire("relay")).toBe(true);
    expect(b.held).toBe(true);
  });
});
