// Test helpers shared by the client's and the React binding's tests (never built or published),
// one concept per module.
export { ORIGIN } from "./origin.js";
export { deferred, type Deferred } from "./deferred.js";
export { commitFrame, dataFrame, metadataFrame, redirectFrame, resultFrame, rollbackFrame, sse } from "./frames.js";
export { durableRun, type DurableRun } from "./durable-run.js";
export { splitAwkwardly } from "./awkward-chunks.js";
export { controlledStream, type ControlledStream } from "./controlled-stream.js";
export { sseResponse, streamResponse } from "./sse-response.js";
export { createTestServer, setupTestServer } from "./test-server.js";
export { inSequence, see, servePosts, type SeenRequest } from "./seen-requests.js";
export { NO_WAIT } from "./no-wait.js";
export { expectDoneOnceAndLast, recorder, type RecordedEvent } from "./callback-recorder.js";
export { expectClientError, rejectionOf } from "./rejections.js";
export { memoryStorage, type MemoryStorage } from "./memory-storage.js";
export { recordStatuses, snapshotWhere, statusReached } from "./stream-observers.js";
export { scriptedFetch } from "./scripted-fetch.js";
