export { createMemoryDedupeStore, type DedupeStore, type MemoryDedupeOptions } from "./dedupe-store.js";
export {
  type BusObserver,
  createEventBus,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_HANDLER_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type DeliveryInfo,
  type EventBus,
  type EventBusOptions,
  type EventHandler,
  type HandleOptions,
  type HandlerContext,
} from "./event-bus.js";
export { KeyedQueue } from "./keyed-queue.js";
export { compose, type MessageContext, type Middleware } from "./middleware.js";
export {
  createPublisher,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_NO_STREAM_GRACE_MS,
  DEFAULT_PUBLISH_DEADLINE_MS,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  type OutboundStep,
  type Publisher,
  type PublisherOptions,
} from "./publisher.js";
export { backoffDelay, DEFAULT_RETRY, parseRetryPolicy, type RetryPolicy } from "./retry.js";
export {
  type ConsumerHealth,
  type ConsumerWatchdog,
  type ConsumerWatchdogInput,
  createConsumerWatchdog,
  DEFAULT_STALL_AFTER_MS,
  MAX_CHECK_INTERVAL_MS,
  MAX_PROBE_TIMEOUT_MS,
  type ParsedWatchdogOptions,
  parseWatchdogOptions,
  type RecoveryInfo,
  type ResumeInfo,
  type StallInfo,
  type StallReason,
  type WatchdogOptions,
  type WatchedConsumer,
} from "./watchdog.js";
