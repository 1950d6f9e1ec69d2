export { SqliteRunStore, type SqliteRunStoreOptions } from "./sqlite-store.js";
