export {
  createPgliteProcessedEventStore,
  createPostgresProcessedEventStore,
  createSqlProcessedEventStore,
  MAX_PROCESSED_ID_LENGTH,
  type OnceResult,
  type PostgresProcessedEventStoreOptions,
  PROCESSED_EVENTS_TABLE,
  type ProcessedEventStore,
  type SqlProcessedEventStoreOptions,
} from "./processed-events.js";
export { type TransactionalHandler, type TransactionalOptions, transactional } from "./transactional.js";
