import { defineCommittedViewProperty } from "@durastream/testing";
import { MemoryRunStore } from "./memory-store.js";

defineCommittedViewProperty("MemoryRunStore", async () => ({ store: new MemoryRunStore(), close: async () => {} }), { numRuns: 40 });
