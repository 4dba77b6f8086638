import type { Checkpoint, CheckpointStore } from "@slotwise/events";
import { quoteIdentifier } from "../sql/pg-client.js";
import type { SqlClient, SqlStatement } from "../sql/sql-client.js";
import { migrate } from "../store/migrate.js";
import { checkSchemaName } from "../store/schema.js";

/** The table holding relay checkpoints, in the store's schema. */
export const CHECKPOINT_TABLE = "relay_checkpoints";
/** First key of the advisory lock that serializes the table's creation ("SLCK"). */
const SETUP_LOCK_NAMESPACE = 0x534c434b;

export interface SqlCheckpointStoreOptions {
  client: SqlClient;
  schema: string;
}

/** A `CheckpointStore` that can also let go of its connection. */
export interface ClosableCheckpointStore extends CheckpointStore {
  /** Releases what the store created (its pool or database when it opened them). */
  close(): Promise<void>;
}

/**
 * The table is created here, idempotently, rather than by the store's migrations: it belongs to the relay,
 * and a relay may be deployed on a schema whose store was migrated before it existed. The store's
 * migrations run first (they create the schema), then the table under an advisory lock, so instances
 * starting together do not race on `CREATE TABLE`.
 */
function setupScript(s: string): string {
  return `CREATE TABLE IF NOT EXISTS ${s}.${CHECKPOINT_TABLE} (
  name text PRIMARY KEY,
  transaction_id xid8 NOT NULL,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;
}

/**
 * Checkpoints in `{schema}.relay_checkpoints`, on PostgreSQL or PGlite (one set of SQL). A save never moves a
 * checkpoint backwards (a late save of a former leader is ignored).
 */
export function createSqlCheckpointStore(options: SqlCheckpointStoreOptions): ClosableCheckpointStore {
  const { client, schema } = options;
  checkSchemaName(schema);
  const s = quoteIdentifier(schema);
  const load: SqlStatement = {
    text: `SELECT transaction_id::text AS transaction_id, position::text AS position
FROM ${s}.${CHECKPOINT_TABLE} WHERE name = $1`,
  };
  const save: SqlStatement = {
    text: `INSERT INTO ${s}.${CHECKPOINT_TABLE} AS c (name, transaction_id, position) VALUES ($1, $2::xid8, $3::bigint)
ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,
  updated_at = now()
WHERE (c.transaction_id, c.position) < (EXCLUDED.transaction_id, EXCLUDED.position)`,
  };
  let ready: Promise<void> | undefined;
  const ensureReady = (): Promise<void> => {
    ready ??= (async () => {
      await migrate(client, schema);
      await client.transaction(async (tx) => {
        await tx.query({ text: "SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text))" }, [
          SETUP_LOCK_NAMESPACE,
          schema,
        ]);
        await tx.execute(setupScript(s));
      });
    })().catch((err: unknown) => {
      ready = undefined; // try again at the next call
      throw err;
    });
    return ready;
  };
  return {
    async load(name) {
      await ensureReady();
      const [row] = await client.query<{ transaction_id: string; position: string }>(load, [name]);
      return row === undefined
        ? undefined
        : { transactionId: BigInt(row.transaction_id), position: BigInt(row.position) };
    },
    async save(name, checkpoint: Checkpoint) {
      await ensureReady();
      await client.query(save, [name, String(checkpoint.transactionId), String(checkpoint.position)]);
    },
    close: () => client.close(),
  };
}
