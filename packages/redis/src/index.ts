export { RedisRunStore, type RedisRunStoreOptions } from "./redis-store.js";
