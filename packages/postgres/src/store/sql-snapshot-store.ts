import {
  checkSnapshotInput,
  checkStreamId,
  DEFAULT_SNAPSHOT_SCHEMA_VERSION,
  type SaveSnapshotInput,
  type Snapshot,
  type SnapshotStore,
  storeClosedError,
} from "@slotwise/events";
import type { SqlClient } from "../sql/sql-client.js";
import { migrate } from "./migrate.js";
import { buildStatements, checkSchemaName } from "./schema.js";

interface SnapshotRow {
  version: number;
  schema_version: number;
  state: unknown;
  saved_at: Date;
}

/** The snapshot store on PostgreSQL or PGlite: one row per stream in `{schema}.snapshots`. */
export function createSqlSnapshotStore(options: { client: SqlClient; schema: string }): SnapshotStore {
  const { client, schema } = options;
  checkSchemaName(schema);
  const st = buildStatements(schema);
  let closed = false;
  let ready: Promise<unknown> | undefined;
  const ensureReady = (): Promise<unknown> => {
    if (closed) return Promise.reject(storeClosedError("snapshot store"));
    ready ??= migrate(client, schema).catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
  return {
    async load<S>(streamId: string): Promise<Snapshot<S> | undefined> {
      checkStreamId(streamId);
      await ensureReady();
      const [row] = await client.query<SnapshotRow>(st.loadSnapshot, [streamId]);
      if (row === undefined) return undefined;
      return {
        streamId,
        version: row.version,
        state: row.state as S,
        schemaVersion: row.schema_version,
        savedAt: row.saved_at,
      };
    },
    async save<S>(input: SaveSnapshotInput<S>): Promise<void> {
      checkSnapshotInput(input);
      await ensureReady();
      await client.query(st.saveSnapshot, [
        input.streamId,
        input.version,
        JSON.stringify(input.state ?? null),
        input.schemaVersion ?? DEFAULT_SNAPSHOT_SCHEMA_VERSION,
      ]);
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
