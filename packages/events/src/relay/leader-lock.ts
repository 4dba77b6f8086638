/**
 * Leadership among instances of one worker (several relays on one log): one holds the lock and works, the
 * others stand by and try again now and then. PostgreSQL implements it with a session advisory lock on a
 * dedicated connection (`@slotwise/postgres`); `createMemoryLeaderLock` does it in-process.
 */
export interface LeaderLock {
  /**
   * Tries once, without waiting: true when this instance holds the lock `name` now (also when it already
   * did). A lock instance holds at most one name.
   */
  acquire(name: string): Promise<boolean>;
  /**
   * Whether this instance still holds its lock. Turns false by itself when the lock is lost (the
   * connection that held it dropped): the holder must then stop working and stand by.
   */
  readonly held: boolean;
  /** Gives the lock up; idempotent. */
  release(): Promise<void>;
}
