export {
  createKvDedupeStore,
  DEFAULT_DEDUPE_BUCKET,
  DEFAULT_DEDUPE_TTL_MS,
  dedupeKey,
  type KvDedupeStore,
  type KvDedupeStoreOptions,
  MAX_PLAIN_KEY_TOKEN,
} from "./kv-dedupe-store.js";
