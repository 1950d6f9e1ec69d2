import { defineRunStoreConformance } from "@durastream/testing";
import { MemoryRunStore } from "./memory-store.js";

defineRunStoreConformance("MemoryRunStore", async ({ retention, now }) => ({
  store: new MemoryRunStore({ retention, now }),
  close: async () => {},
}));
