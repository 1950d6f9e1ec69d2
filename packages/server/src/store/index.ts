// @durastream/server/store: the store SPI, for packages that implement a RunStore (SQLite, Redis,
// third-party stores). Applications import from "@durastream/server" only.
export { StoreRefusedError } from "../errors.js";
export { MemoryRunStore, type MemoryRunStoreOptions } from "./memory-store.js";
export { eventMatches } from "./event-match.js";
export { newRunRecord, storedTime } from "./new-run-record.js";
export { outsidePendingAfter, parseRollbackMarks, stringifyRollbackMarks } from "./quiet-point.js";
export { readRunSummary } from "./run-summary.js";
export { MAX_RUN_KEY_BYTES, RunKeyTakenError } from "./run-key-taken.js";
export { runKeyIndex } from "./run-key-index.js";
export type {
  AppendEffects,
  DurableEvent,
  FrameToAppend,
  LogEntry,
  NewRun,
  QuietPoint,
  RequestSnapshot,
  ResumableCursor,
  ResumableRun,
  RollbackMark,
  RunRecord,
  RunStatus,
  RunStore,
  RunSummary,
  StepKind,
  StepRecord,
  StoreErrorReason,
} from "./run-store.js";
