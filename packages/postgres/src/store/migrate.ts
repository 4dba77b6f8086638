import { quoteIdentifier } from "../sql/pg-client.js";
import type { SqlClient } from "../sql/sql-client.js";
import { MIGRATIONS, type Migration } from "./schema.js";

/** First key of the advisory lock that serializes migrations ("SLTW"); the second is the schema's hash. */
const MIGRATION_LOCK_NAMESPACE = 0x534c5457;

/**
 * Brings `schema` to the latest migration, in one transaction. A transaction-scoped advisory lock makes
 * concurrent starters (several service instances booting at once) wait for each other instead of racing on
 * `CREATE TABLE`; the loser then finds the migrations applied and does nothing. Returns the version reached.
 */
export async function migrate(
  client: SqlClient,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number> {
  const s = quoteIdentifier(schema);
  return client.transaction(async (tx) => {
    await tx.query({ text: "SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text))" }, [
      MIGRATION_LOCK_NAMESPACE,
      schema,
    ]);
    await tx.execute(`CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`);
    const [row] = await tx.query<{ version: number }>(
      { text: `SELECT coalesce(max(version), 0) AS version FROM ${s}.migrations` },
      [],
    );
    let current = row?.version ?? 0;
    for (const m of migrations) {
      if (m.version <= current) continue;
      await tx.execute(m.sql(s));
      await tx.query({ text: `INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)` }, [
        m.version,
        m.name,
      ]);
      current = m.version;
    }
    return current;
  });
}
