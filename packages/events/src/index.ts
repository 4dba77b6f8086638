// @slotwise/events — the core: no broker or database imports.

export * from "./aggregate/index.js";
export * from "./bus/index.js";
export * from "./context/index.js";
export * from "./dlq/index.js";
export * from "./envelope/index.js";
export * from "./errors/index.js";
export * from "./observability/index.js";
export * from "./relay/index.js";
export * from "./store/index.js";
export * from "./transport/index.js";
