export {
  SqliteStore,
  APPLICATION_ID,
  SCHEMA_VERSION,
  type ChangelogEntry,
  type ChangeOperation,
  type SqliteStoreOptions,
  type StoredPolicy
} from './sqlite-store.js'
