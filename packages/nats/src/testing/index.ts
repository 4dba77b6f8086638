export {
  DEFAULT_NATS_SERVER_BIN,
  DEFAULT_NATS_SERVER_START_TIMEOUT_MS,
  type NatsServerOptions,
  type NatsServerProcess,
  startNatsServer,
} from "./nats-server.js";
