export {
  ConcurrencyError,
  EnvelopeError,
  ErrorCode,
  type ExpectedVersionLike,
  isPermanent,
  isSlotwiseError,
  SlotwiseError,
  type SlotwiseErrorOptions,
} from "./errors.js";
