import { defineChaosProperty } from "@durastream/testing";
import { MemoryRunStore } from "./memory-store.js";

// 200 cases by default; CHAOS_RUNS=2000 (and CHAOS_SEED to replay one) locally for more.
defineChaosProperty("MemoryRunStore", async () => ({ store: new MemoryRunStore(), close: async () => {} }));
