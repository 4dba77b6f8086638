export { AggregateRoot, type AggregateSnapshot } from "./aggregate-root.js";
export {
  type AggregateDefinition,
  type DecideContext,
  defineAggregate,
  replayState,
  streamIdOf,
} from "./definition.js";
export { DomainError, isDomainError } from "./domain-error.js";
export {
  type AnyAggregateRoot,
  createRepository,
  DEFAULT_COMMAND_MAX_RETRIES,
  DEFAULT_COMMAND_RETRY_DELAY_MS,
  type HandleResult,
  type Repository,
  type RepositoryBaseOptions,
  type RepositoryDefinitionOptions,
  type RepositoryFactoryOptions,
  type RepositorySnapshotOptions,
  type SaveResult,
} from "./repository.js";
