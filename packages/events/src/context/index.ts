export {
  currentEventContext,
  type EventContext,
  runWithCorrelation,
  runWithEventContext,
} from "./event-context.js";
