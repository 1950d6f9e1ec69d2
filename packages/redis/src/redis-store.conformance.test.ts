import { defineRunStoreConformance } from "@durastream/testing";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();

if (url === undefined) {
  skipWithoutRedis();
} else {
  defineRunStoreConformance("RedisRunStore", async ({ retention, now }) => {
    const prefix = uniquePrefix("conformance");
    const store = new RedisRunStore({ url, prefix, retention, now });
    return {
      store,
      close: async () => {
        await store.close();
        await deleteKeys(url, prefix);
      },
    };
  });
}
