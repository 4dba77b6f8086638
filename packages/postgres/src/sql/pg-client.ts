import type pg from "pg";
import { isConnectionLoss, toStoreError } from "./errors.js";
import type { ErrorHandler, SqlClient, SqlExecutor, SqlStatement } from "./sql-client.js";

/** Delay before a lost LISTEN connection is opened again. */
export const DEFAULT_LISTEN_RECONNECT_MS = 1000;

export interface PgSqlClientOptions {
  pool: pg.Pool;
  /** End the pool on `close()` (the client created it). */
  ownsPool: boolean;
  onError: ErrorHandler;
  /** @default 1000 */
  listenReconnectMs?: number;
}

/** A quoted SQL literal, for the few statements that must go through the simple protocol. */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

type Queryable = pg.Pool | pg.PoolClient;

function executorOf(target: Queryable, onLoss?: () => void): SqlExecutor {
  return {
    async query<R>(statement: SqlStatement, params: readonly unknown[]): Promise<R[]> {
      try {
        const result = await target.query({
          name: statement.name,
          text: statement.text,
          values: params as unknown[],
        });
        return result.rows as R[];
      } catch (err) {
        if (onLoss && isConnectionLoss(err)) onLoss();
        throw toStoreError(err);
      }
    },
    async execute(script: string): Promise<void> {
      try {
        await target.query(script);
      } catch (err) {
        if (onLoss && isConnectionLoss(err)) onLoss();
        throw toStoreError(err);
      }
    },
  };
}

/** The node-postgres adapter: statements on the pool, a transaction on one checked-out client. */
export function createPgSqlClient(options: PgSqlClientOptions): SqlClient {
  const { pool, ownsPool, onError } = options;
  const reconnectMs = options.listenReconnectMs ?? DEFAULT_LISTEN_RECONNECT_MS;
  // An idle client that loses its connection makes the pool emit `error`: unhandled, it kills the process.
  const onPoolError = (err: Error) => onError(err);
  pool.on("error", onPoolError);
  const listeners = new Set<() => Promise<void>>();

  async function connect(): Promise<pg.PoolClient> {
    try {
      return await pool.connect();
    } catch (err) {
      throw toStoreError(err);
    }
  }

  const base = executorOf(pool);
  return {
    ...base,
    concurrent: true,

    async transaction<R>(work: (tx: SqlExecutor) => Promise<R>): Promise<R> {
      const client = await connect();
      let broken: Error | undefined;
      const onClientError = (err: Error) => {
        broken = err;
        onError(err);
      };
      client.on("error", onClientError);
      const tx = executorOf(client, () => {
        broken ??= new Error("connection lost");
      });
      try {
        await tx.execute("BEGIN");
        let result: R;
        try {
          result = await work(tx);
        } catch (err) {
          if (!broken) {
            try {
              await client.query("ROLLBACK");
            } catch (rollbackError) {
              broken = rollbackError as Error;
            }
          }
          throw err;
        }
        await tx.execute("COMMIT");
        return result;
      } finally {
        client.off("error", onClientError);
        // A broken client is destroyed, not returned to the pool.
        client.release(broken);
      }
    },

    async listen(channel, onNotify) {
      let stopped = false;
      let current: pg.PoolClient | undefined;
      let timer: NodeJS.Timeout | undefined;
      const onNotification = (message: pg.Notification) => {
        if (message.channel === channel) onNotify(message.payload ?? "");
      };
      const attach = async (): Promise<void> => {
        const client = await connect();
        const onClientError = (err: Error) => {
          onError(err);
          client.off("notification", onNotification);
          client.off("error", onClientError);
          client.release(err);
          if (current === client) current = undefined;
          schedule();
        };
        client.on("error", onClientError);
        client.on("notification", onNotification);
        try {
          await client.query(`LISTEN ${quoteIdentifier(channel)}`);
        } catch (err) {
          client.off("notification", onNotification);
          client.off("error", onClientError);
          client.release(err as Error);
          throw toStoreError(err);
        }
        if (stopped) {
          client.release();
          return;
        }
        current = client;
      };
      // Reconnects after a lost connection; notifications sent meanwhile are lost, so it then calls
      // `onNotify("")` once: "something may have happened".
      const schedule = () => {
        if (stopped || timer) return;
        timer = setTimeout(async () => {
          timer = undefined;
          try {
            await attach();
            if (!stopped) onNotify("");
          } catch (err) {
            onError(err as Error);
            schedule();
          }
        }, reconnectMs);
        timer.unref();
      };
      await attach();
      const unlisten = async () => {
        if (stopped) return;
        stopped = true;
        listeners.delete(unlisten);
        if (timer) clearTimeout(timer);
        const client = current;
        current = undefined;
        if (client) {
          client.removeAllListeners("notification");
          try {
            await client.query(`UNLISTEN ${quoteIdentifier(channel)}`);
            client.release();
          } catch (err) {
            client.release(err as Error);
          }
        }
      };
      listeners.add(unlisten);
      return unlisten;
    },

    async notify(channel, payload) {
      // Simple protocol, one round trip. Its own transaction: NOTIFY inside the append's transaction would
      // take PostgreSQL's global notify lock across the commit and serialize every appender. Not waiting
      // for the flush is safe: a lost notification only delays a reader that also polls.
      await base.execute(
        `BEGIN; SET LOCAL synchronous_commit TO OFF; SELECT pg_notify(${quoteLiteral(channel)}, ${quoteLiteral(payload)}); COMMIT`,
      );
    },

    async close() {
      await Promise.all([...listeners].map((unlisten) => unlisten()));
      if (ownsPool) await pool.end();
      pool.off("error", onPoolError);
    },
  };
}
