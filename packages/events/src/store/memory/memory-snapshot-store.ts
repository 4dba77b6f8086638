import { ErrorCode, SlotwiseError } from "../../errors/index.js";
import {
  DEFAULT_SNAPSHOT_SCHEMA_VERSION,
  type SaveSnapshotInput,
  type Snapshot,
  type SnapshotStore,
} from "../snapshot-store.js";
import { checkSnapshotInput } from "../validate.js";

/** The in-process `SnapshotStore`. States are copied through JSON, as the SQL stores keep them. */
export function createMemorySnapshotStore(): SnapshotStore {
  const snapshots = new Map<string, Snapshot>();
  let closed = false;
  const assertOpen = () => {
    if (closed) throw new SlotwiseError(ErrorCode.CLOSED, "the snapshot store is closed");
  };
  return {
    async load<S>(streamId: string): Promise<Snapshot<S> | undefined> {
      assertOpen();
      const s = snapshots.get(streamId);
      return s === undefined
        ? undefined
        : ({ ...s, state: JSON.parse(JSON.stringify(s.state)) } as Snapshot<S>);
    },
    async save<S>(input: SaveSnapshotInput<S>): Promise<void> {
      assertOpen();
      checkSnapshotInput(input);
      const schemaVersion = input.schemaVersion ?? DEFAULT_SNAPSHOT_SCHEMA_VERSION;
      const existing = snapshots.get(input.streamId);
      if (existing && existing.schemaVersion === schemaVersion && existing.version > input.version) return;
      snapshots.set(input.streamId, {
        streamId: input.streamId,
        version: input.version,
        state: JSON.parse(JSON.stringify(input.state)) as unknown,
        schemaVersion,
        savedAt: new Date(),
      });
    },
    async close() {
      closed = true;
    },
  };
}
