/**
 * The snapshot port: an aggregate's state at a version, so loading replays only the events after it.
 * Optional per aggregate type; a snapshot is a cache, never the truth (the events are). Implementations:
 * in-process (`./memory/`), PostgreSQL and PGlite (`@slotwise/postgres`).
 */

/** `schemaVersion` of a snapshot saved without one. */
export const DEFAULT_SNAPSHOT_SCHEMA_VERSION = 1;

export interface Snapshot<S = unknown> {
  readonly streamId: string;
  /** The stream version the state includes (the version of the last applied event). */
  readonly version: number;
  readonly state: S;
  /**
   * Version of the state's shape. Bump it when the aggregate's state changes shape: a loader that finds
   * another schema version ignores the snapshot and replays.
   */
  readonly schemaVersion: number;
  readonly savedAt: Date;
}

export interface SaveSnapshotInput<S = unknown> {
  streamId: string;
  version: number;
  /** Must survive JSON (the SQL stores keep it as jsonb; the in-process store copies it through JSON). */
  state: S;
  /** @default 1 */
  schemaVersion?: number;
}

export interface SnapshotStore {
  /** The stream's latest snapshot, or undefined. */
  load<S = unknown>(streamId: string): Promise<Snapshot<S> | undefined>;
  /**
   * Keeps one snapshot per stream. A snapshot older than the stored one (lower version, same schema
   * version) is ignored, so a slow writer cannot roll the cache back.
   */
  save<S>(snapshot: SaveSnapshotInput<S>): Promise<void>;
  close(): Promise<void>;
}
