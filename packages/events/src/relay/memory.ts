import { ErrorCode, SlotwiseError } from "../errors/index.js";
import type { Checkpoint } from "../store/event-store.js";
import { type CheckpointStore, isCheckpointAfter } from "./checkpoint-store.js";
import type { LeaderLock } from "./leader-lock.js";

/** The in-process `CheckpointStore` (embedded mode, tests). */
export function createMemoryCheckpointStore(): CheckpointStore {
  const saved = new Map<string, Checkpoint>();
  return {
    async load(name) {
      const c = saved.get(name);
      return c === undefined ? undefined : { ...c };
    },
    async save(name, checkpoint) {
      const current = saved.get(name);
      if (current === undefined || isCheckpointAfter(checkpoint, current)) saved.set(name, { ...checkpoint });
    },
  };
}

/** Locks shared by the in-process leader locks created over it, like one database's advisory locks. */
export interface MemoryLockTable {
  /** Names currently held. */
  readonly held: readonly string[];
}

class LockTable implements MemoryLockTable {
  readonly owners = new Map<string, object>();
  get held(): string[] {
    return [...this.owners.keys()];
  }
}

export function createMemoryLockTable(): MemoryLockTable {
  return new LockTable();
}

export interface MemoryLeaderLockOptions {
  /** Locks competing with this one share a table. @default a new table (the lock always succeeds) */
  table?: MemoryLockTable;
}

/** The in-process `LeaderLock`: among locks on one table, one holds a name at a time. */
export function createMemoryLeaderLock(options: MemoryLeaderLockOptions = {}): LeaderLock {
  const table = (options.table ?? new LockTable()) as LockTable;
  if (!(table instanceof LockTable)) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "table must come from createMemoryLockTable()");
  }
  const me = {};
  let name: string | undefined;
  return {
    async acquire(wanted) {
      if (name !== undefined && name !== wanted) {
        throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `this lock already holds "${name}"`, {
          details: { held: name, wanted },
        });
      }
      const owner = table.owners.get(wanted);
      if (owner !== undefined && owner !== me) return false;
      table.owners.set(wanted, me);
      name = wanted;
      return true;
    },
    get held() {
      return name !== undefined && table.owners.get(name) === me;
    },
    async release() {
      if (name !== undefined && table.owners.get(name) === me) table.owners.delete(name);
      name = undefined;
    },
  };
}
