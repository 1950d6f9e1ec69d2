// @durastream/testing: tools for testing durable endpoints and RunStores (uses vitest and fast-check).
export { defineRunStoreConformance, type RunStoreConformanceContext, type RunStoreFactory, type RunStoreUnderTest } from "./conformance/index.js";
export { defineChaosProperty } from "./chaos-property.js";
export { defineCommittedViewProperty } from "./committed-view-property.js";
export { FaultyStore, type FaultyMethod } from "./faulty-store.js";
export { advanceUntil, collectFrames, committedData, createManualTimers, passTime, sseRequest, until, type ManualTimers } from "./helpers.js";
