import type { Checkpoint } from "../store/event-store.js";

/**
 * Where followers of the log (the relay) keep their place, by name. Implementations: in-process
 * (`createMemoryCheckpointStore`), PostgreSQL and PGlite (`@slotwise/postgres`).
 */
export interface CheckpointStore {
  /** The saved checkpoint, or undefined when `name` never saved one (start from the beginning). */
  load(name: string): Promise<Checkpoint | undefined>;
  /**
   * Saves `checkpoint` under `name`. Never moves a checkpoint backwards: a save behind the stored one (a
   * relay that lost its leadership finishing its batch late) is ignored.
   */
  save(name: string, checkpoint: Checkpoint): Promise<void>;
}

/** True when `a` lies strictly after `b` in commit order. */
export function isCheckpointAfter(a: Checkpoint, b: Checkpoint): boolean {
  return (
    a.transactionId > b.transactionId || (a.transactionId === b.transactionId && a.position > b.position)
  );
}
