/**
 * The one seam between the store's SQL and a driver: run a statement, run a transaction on one connection,
 * listen to a channel. Two adapters: node-postgres (`./pg-client.ts`) and PGlite (`./pglite-client.ts`).
 * Everything above this file is the same code and the same SQL on both.
 */

/** A statement the store runs often: `name` lets a driver prepare it once per connection. */
export interface SqlStatement {
  /** Unique per text on a connection; at most 63 bytes (PostgreSQL truncates longer names). */
  readonly name?: string;
  readonly text: string;
}

/** Runs statements on a pool (each on any connection) or on one transaction's connection. */
export interface SqlExecutor {
  /** Rows as objects keyed by column name; bigint columns arrive as strings or numbers (use BigInt()). */
  query<R>(statement: SqlStatement, params: readonly unknown[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  execute(script: string): Promise<void>;
}

export interface SqlClient extends SqlExecutor {
  /**
   * `BEGIN`, `work` on one connection, `COMMIT`; `ROLLBACK` and rethrow when `work` throws.
   * A lost connection fails with UNAVAILABLE.
   */
  transaction<R>(work: (tx: SqlExecutor) => Promise<R>): Promise<R>;
  /**
   * Whether a statement may run on the client while a transaction holds a connection. False for a
   * single-connection database (PGlite), where it would wait for the transaction to end.
   */
  readonly concurrent: boolean;
  /** Calls `onNotify` with each payload sent to `channel`; resolves once listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Sends a notification in its own small transaction, without waiting for its commit to be flushed. */
  notify(channel: string, payload: string): Promise<void>;
  /** Releases what the client created (a pool it opened, a database it started); not what it was given. */
  close(): Promise<void>;
}

/** Background failures (a pool's idle client lost, a listener's connection dropped). @default ignored */
export type ErrorHandler = (error: Error) => void;
