// `@durastream/protocol/internal`: the per-chunk encoders and byte-layout helpers the other
// Durastream packages share. Not part of the public API: no semver promise, may change in any release.
export { encodeEvent } from "./encode.js";
export {
  DATA_KEY,
  MAX_DATA_PAYLOAD_PREFIX_LENGTH,
  NULL_STEP_DATA_PREFIX,
  OUTSIDE_STEP_OPENING,
  STEP_KEY,
  createDataPayloadEncoder,
  dataPayloadPrefix,
  dataPayloadPrefixLength,
  encodeDataPayload,
  isOutsideStepPayload,
  stepOfPayload,
} from "./step-payload.js";
export {
  base64ToBytes,
  base64UrlToBytes,
  bytesToBase64,
  bytesToBase64Url,
  decodeBody,
  encodeBody,
} from "./body-encoding.js";
export { DEFAULT_BACKOFF, backoffDelay, checkBackoff, checkBackoffFields, scheduleDelay } from "./backoff.js";
export { describeValue } from "./describe-value.js";
export {
  checkOptionalFunction,
  checkOptionalMilliseconds,
  checkStoreClock,
  checkStoreRetention,
  invalidOption,
} from "./option-checks.js";
