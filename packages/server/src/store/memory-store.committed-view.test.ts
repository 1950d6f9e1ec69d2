import { defineCommittedViewProperty } from "../testing/committed-view-property.js";
import { MemoryRunStore } from "./memory-store.js";

defineCommittedViewProperty("MemoryRunStore", async () => ({ store: new MemoryRunStore(), close: async () => {} }), { numRuns: 40 });
