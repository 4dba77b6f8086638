// @slotwise/events/testing — test kits and the conformance suites (imports vitest; not for production code).

export {
  AggregateSpec,
  type AggregateSpecGiven,
  type AggregateSpecOptions,
  type AggregateSpecThen,
  type AggregateSpecWhen,
  DEFAULT_SPEC_AGGREGATE_ID,
  type ExpectedError,
  type ExpectedEvent,
  type SpecAction,
} from "./aggregate-spec.js";
export {
  BAD_INPUT_MAX_BYTES,
  type BadInputCase,
  BadInputCreated,
  badInputCases,
  runBadInputMatrix,
} from "./bad-input.js";
export { runBusConformance } from "./bus-conformance.js";
export { type ChildProcessOptions, spawnChildProcess, type TestChildProcess } from "./child-process.js";
export {
  createRecordingPublisher,
  RECORDING_STREAM,
  type RecordingPublisher,
  type RecordingPublisherOptions,
} from "./recording-publisher.js";
export {
  type RelayConformanceFactory,
  type RelayConformanceFeatures,
  type RelayFixture,
  runRelayConformance,
} from "./relay-conformance.js";
export {
  runStoreConformance,
  type StoreConformanceFactory,
  type StoreConformanceFeatures,
} from "./store-conformance.js";
export {
  runTransportConformance,
  type TransportConformanceFactory,
  type TransportConformanceFeatures,
} from "./transport-conformance.js";
export {
  DEFAULT_WAIT_INTERVAL_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  sleep,
  uniqueId,
  type WaitForOptions,
  waitFor,
} from "./wait.js";
