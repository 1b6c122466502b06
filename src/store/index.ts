export {
  SqliteStore,
  APPLICATION_ID,
  SCHEMA_VERSION,
  type ChangeFilter,
  type ChangelogEntry,
  type ChangeOperation,
  type SqliteStoreOptions,
  type StoredPolicy
} from './sqlite-store.js'
