import type { PGlite, Transaction } from "@electric-sql/pglite";
import { ErrorCode, SlotwiseError } from "@slotwise/events";
import type { SqlClient, SqlExecutor, SqlStatement } from "./sql-client.js";

export interface PgliteSqlClientOptions {
  db: PGlite;
  /** Close the database on `close()` (the client started it). */
  ownsDb: boolean;
}

function closedError(): SlotwiseError {
  return new SlotwiseError(ErrorCode.CLOSED, "the PGlite database is closed");
}

function executorOf(target: PGlite | Transaction, db: PGlite): SqlExecutor {
  return {
    async query<R>(statement: SqlStatement, params: readonly unknown[]): Promise<R[]> {
      if (db.closed) throw closedError();
      return (await target.query<R>(statement.text, params as unknown[])).rows;
    },
    async execute(script: string): Promise<void> {
      if (db.closed) throw closedError();
      await target.exec(script);
    },
  };
}

/**
 * The PGlite adapter: one in-process connection, so a transaction holds the database and every other
 * statement waits for it (`concurrent: false`). Statements are not named: there is no pool to prepare on.
 */
export function createPgliteSqlClient(options: PgliteSqlClientOptions): SqlClient {
  const { db, ownsDb } = options;
  const listeners = new Set<() => Promise<void>>();
  return {
    ...executorOf(db, db),
    concurrent: false,
    async transaction<R>(work: (tx: SqlExecutor) => Promise<R>): Promise<R> {
      if (db.closed) throw closedError();
      return db.transaction((tx) => work(executorOf(tx, db)));
    },
    async listen(channel, onNotify) {
      if (db.closed) throw closedError();
      const stop = await db.listen(channel, onNotify);
      const unlisten = async () => {
        if (!listeners.delete(unlisten)) return;
        if (!db.closed) await stop();
      };
      listeners.add(unlisten);
      return unlisten;
    },
    async notify(channel, payload) {
      if (db.closed) return;
      await db.query("SELECT pg_notify($1, $2)", [channel, payload]);
    },
    async close() {
      await Promise.all([...listeners].map((unlisten) => unlisten()));
      if (ownsDb && !db.closed) await db.close();
    },
  };
}
