import type { PGlite } from "@electric-sql/pglite";
import {
  createMemoryLeaderLock,
  createMemoryLockTable,
  ErrorCode,
  type LeaderLock,
  type MemoryLockTable,
  SlotwiseError,
} from "@slotwise/events";
import pg from "pg";
import { toStoreError } from "../sql/errors.js";
import type { ErrorHandler } from "../sql/sql-client.js";
import { checkSchemaName, DEFAULT_SCHEMA } from "../store/schema.js";

/** First key of the relay's advisory locks ("SLRL"); the second is a hash of schema and lock name. */
export const LEADER_LOCK_NAMESPACE = 0x534c524c;

export interface PostgresLeaderLockOptions {
  /** Opens one dedicated connection. Exactly one of `connectionString` and `pool`. */
  connectionString?: string;
  /** Checks one connection out of this pool and keeps it while the lock lives. */
  pool?: pg.Pool;
  /** Locks are per schema and name: relays of two schemas never compete. @default "slotwise" */
  schema?: string;
  /** Told when the lock's connection breaks (the lock is then lost). @default ignored */
  onError?: ErrorHandler;
}

/**
 * Leadership by a session advisory lock, `pg_try_advisory_lock`, on a dedicated connection: the lock lives
 * exactly as long as that session, so a holder that dies (process killed, network gone) frees it when
 * PostgreSQL notices the session end, and a standby's next `acquire` takes it. When the connection breaks,
 * `held` turns false at once and the holder stands by.
 */
export function createPostgresLeaderLock(options: PostgresLeaderLockOptions): LeaderLock {
  if ((options.pool === undefined) === (options.connectionString === undefined)) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "pass exactly one of pool and connectionString", {
      details: { pool: options.pool !== undefined, connectionString: options.connectionString !== undefined },
    });
  }
  const schema = options.schema ?? DEFAULT_SCHEMA;
  checkSchemaName(schema);
  const onError = options.onError ?? (() => {});

  interface Session {
    query(text: string, values: unknown[]): Promise<pg.QueryResult>;
    end(err?: Error): Promise<void>;
    lost: boolean;
  }
  let session: Session | undefined;
  let name: string | undefined;
  let holding = false;

  const lose = (s: Session, err: Error) => {
    if (s.lost) return;
    s.lost = true;
    if (session === s) {
      session = undefined;
      holding = false;
    }
    onError(err);
  };

  async function open(): Promise<Session> {
    if (options.pool) {
      const client = await options.pool.connect();
      const s: Session = {
        lost: false,
        query: (text, values) => client.query(text, values),
        async end(err) {
          client.off("error", onClientError);
          client.release(err ?? true); // never hand a session with locks back to the pool: destroy it
        },
      };
      const onClientError = (err: Error) => lose(s, err);
      client.on("error", onClientError);
      return s;
    }
    const client = new pg.Client({ connectionString: options.connectionString });
    const s: Session = {
      lost: false,
      query: (text, values) => client.query(text, values),
      async end() {
        await client.end().catch(() => undefined);
      },
    };
    client.on("error", (err) => lose(s, err));
    client.on("end", () => lose(s, new Error("the leader lock's connection ended")));
    await client.connect();
    return s;
  }

  return {
    async acquire(wanted) {
      if (name !== undefined && name !== wanted) {
        throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `this lock already holds "${name}"`, {
          details: { held: name, wanted },
        });
      }
      if (holding) return true;
      try {
        session ??= await open();
        const current = session;
        const { rows } = await current.query(
          "SELECT pg_try_advisory_lock($1::integer, hashtext($2::text)) AS locked",
          [LEADER_LOCK_NAMESPACE, `${schema}.${wanted}`],
        );
        const locked = (rows[0] as { locked?: boolean } | undefined)?.locked === true;
        if (locked && session === current && !current.lost) {
          holding = true;
          name = wanted;
        }
        return holding;
      } catch (err) {
        // The session is unusable: drop it, the next attempt opens another.
        const s = session;
        session = undefined;
        holding = false;
        if (s) {
          s.lost = true;
          await s.end(err as Error);
        }
        throw toStoreError(err);
      }
    },
    get held() {
      return holding && session !== undefined && !session.lost;
    },
    async release() {
      const s = session;
      const wasHolding = holding;
      session = undefined;
      holding = false;
      const lockName = name;
      name = undefined;
      if (!s) return;
      s.lost = true;
      // Ending the session frees its advisory locks; unlock first anyway, so a pooled connection is clean.
      if (wasHolding && lockName !== undefined) {
        await s
          .query("SELECT pg_advisory_unlock($1::integer, hashtext($2::text))", [
            LEADER_LOCK_NAMESPACE,
            `${schema}.${lockName}`,
          ])
          .catch(() => undefined);
      }
      await s.end();
    },
  };
}

const pgliteTables = new WeakMap<PGlite, MemoryLockTable>();

/**
 * Leadership on PGlite. PGlite is one in-process session, where an advisory lock is re-entrant and would let
 * every relay in the process lead at once, so relays sharing a PGlite database compete on an in-process lock
 * table of that database instead. (Only one process can open a PGlite data directory anyway.)
 */
export function createPgliteLeaderLock(options: { pglite: PGlite; schema?: string }): LeaderLock {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  checkSchemaName(schema);
  let table = pgliteTables.get(options.pglite);
  if (table === undefined) {
    table = createMemoryLockTable();
    pgliteTables.set(options.pglite, table);
  }
  // Names are per schema, as with PostgreSQL's advisory locks.
  const lock = createMemoryLeaderLock({ table });
  return {
    acquire: (name) => lock.acquire(`${schema}.${name}`),
    get held() {
      return lock.held;
    },
    release: () => lock.release(),
  };
}
