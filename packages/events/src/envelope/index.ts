export {
  CLOUDEVENTS_CONTENT_TYPE,
  type CloudEvent,
  type CreateEventInput,
  createEvent,
  JSON_CONTENT_TYPE,
  RESERVED_ATTRIBUTES,
  SPEC_VERSION,
  toCloudEvent,
  toWireObject,
} from "./cloud-event.js";
export {
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_JSON_DEPTH,
  type DecodeOptions,
  decodeEvent,
  encodeEvent,
  parseEventBytes,
} from "./codec.js";
export { compileDataCheck, type DataCheck } from "./data-check.js";
export {
  assertEnvironment,
  DEFAULT_ENVIRONMENTS,
  dlqStreamNameFor,
  dlqSubjectFor,
  EVENT_TYPE_PATTERN,
  type EventTypeParts,
  isValidEventType,
  parseEventType,
  parseSubject,
  streamNameFor,
  streamSubjectFor,
  subjectFor,
} from "./naming.js";
export {
  createEventRegistry,
  type DefineEventInput,
  defineEvent,
  type EventDefinition,
  type EventRegistry,
  type EventRegistryOptions,
} from "./registry.js";
