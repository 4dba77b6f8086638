// @slotwise/nats — the NATS JetStream / core-NATS transport and what only NATS offers.
export {
  type ConnectNatsOptions,
  connectNats,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_CONNECTION_NAME,
  DEFAULT_MAX_PING_OUT,
  DEFAULT_MAX_RECONNECT_ATTEMPTS,
  DEFAULT_NATS_URL,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_RECONNECT_JITTER_MS,
  DEFAULT_RECONNECT_TIME_WAIT_MS,
  natsConnectionOptions,
  type ReconnectOptions,
} from "./connection/connect.js";
export {
  MULTI_FILTER_MIN_VERSION,
  parseServerVersion,
  TERM_REASON_MIN_VERSION,
  versionAtLeast,
} from "./connection/server-version.js";
export {
  createKvDedupeStore,
  DEFAULT_DEDUPE_BUCKET,
  DEFAULT_DEDUPE_TTL_MS,
  dedupeKey,
  type KvDedupeStore,
  type KvDedupeStoreOptions,
  MAX_PLAIN_KEY_TOKEN,
} from "./dedupe/index.js";
export {
  checkNatsProfile,
  checkProductionProfile,
  PRODUCTION_MIN_REPLICAS,
  PRODUCTION_MIN_SERVER_VERSION,
  type ProfileFinding,
  type ProfileFindingCode,
  type ProfileInput,
  type ProfileReport,
} from "./provision/profile.js";
// A nats-server of a test's own (stop, restart on the same port and store), for broker-failure tests.
export {
  DEFAULT_NATS_SERVER_BIN,
  DEFAULT_NATS_SERVER_START_TIMEOUT_MS,
  type NatsServerOptions,
  type NatsServerProcess,
  startNatsServer,
} from "./testing/index.js";
export {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_ACK_PENDING,
  DEFAULT_MAX_DELIVER,
  fromJsConsumerInfo,
  fromJsStreamInfo,
  toJsConsumerConfig,
  toJsStreamConfig,
} from "./transport/config.js";
export {
  type ConsumeStats,
  type ConsumeStatus,
  DEFAULT_MAX_IN_FLIGHT,
  type NatsConsumeOptions,
  type NatsSubscription,
} from "./transport/consume.js";
export { toSlotwiseError } from "./transport/errors.js";
export {
  createNatsTransport,
  DEFAULT_API_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type NatsTransport,
  type NatsTransportOptions,
} from "./transport/nats-transport.js";
export { DEFAULT_PUBLISH_TIMEOUT_MS } from "./transport/publish-pipeline.js";
