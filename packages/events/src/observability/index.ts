export { type Logger, NOOP_LOGGER } from "./logger.js";
