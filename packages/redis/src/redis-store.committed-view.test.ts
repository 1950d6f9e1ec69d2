import { defineCommittedViewProperty } from "@durastream/testing";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();

if (url === undefined) {
  skipWithoutRedis();
} else {
  defineCommittedViewProperty(
    "RedisRunStore",
    async () => {
      const prefix = uniquePrefix("property");
      const store = new RedisRunStore({ url, prefix });
      return {
        store,
        close: async () => {
          await store.close();
          await deleteKeys(url, prefix);
        },
      };
    },
    { numRuns: 20 },
  );
}
