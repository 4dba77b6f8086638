/**
 * The logging port: the subset of pino's API the toolkit calls, so a pino logger (or a child of one) can be
 * passed as is. Every line is structured: an object of fields first, then a short message. Inject it; there
 * is no global logger, and the default writes nothing.
 *
 * ```ts
 * import pino from "pino";
 * createEventBus({ ..., logger: pino() });
 * ```
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const noop = (): void => {};

/** Writes nothing: the default wherever a `logger` option is not given. */
export const NOOP_LOGGER: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
