export { type CheckpointStore, isCheckpointAfter } from "./checkpoint-store.js";
export { type LagSummary, LagWindow, percentile } from "./lag.js";
export type { LeaderLock } from "./leader-lock.js";
export {
  createMemoryCheckpointStore,
  createMemoryLeaderLock,
  createMemoryLockTable,
  type MemoryLeaderLockOptions,
  type MemoryLockTable,
} from "./memory.js";
export {
  createRelay,
  DEFAULT_RELAY_BATCH_SIZE,
  DEFAULT_RELAY_LAG_WINDOW,
  DEFAULT_RELAY_MAX_IN_FLIGHT,
  DEFAULT_RELAY_MAX_RETRY_DELAY_MS,
  DEFAULT_RELAY_NAME,
  DEFAULT_RELAY_POLL_INTERVAL_MS,
  DEFAULT_RELAY_PUBLISH_DEADLINE_MS,
  DEFAULT_RELAY_PUBLISH_TIMEOUT_MS,
  DEFAULT_RELAY_RETRY_DELAY_MS,
  DEFAULT_RELAY_STANDBY_RETRY_MS,
  type Relay,
  type RelayBatch,
  type RelayOptions,
  type RelayState,
  type RelayStats,
  type Unsubscribe,
  type WakeSource,
} from "./relay.js";
