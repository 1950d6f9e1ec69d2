import { defineChaosProperty } from "@durastream/testing";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();

if (url === undefined) {
  skipWithoutRedis();
} else {
  // A unique key prefix per case, deleted afterwards. Every simulated process wraps this store in
  // its own FaultyStore (which has no close()), so `durable.close()` never closes it: the factory's
  // close does. 200 cases by default; CHAOS_RUNS=2000 (and CHAOS_SEED to replay one) locally for more.
  defineChaosProperty("RedisRunStore", async () => {
    const prefix = uniquePrefix("chaos");
    const store = new RedisRunStore({ url, prefix });
    return {
      store,
      close: async () => {
        await store.close();
        await deleteKeys(url, prefix);
      },
    };
  });
}
