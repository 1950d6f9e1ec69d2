import type { ReconnectOptions } from "@durastream/client";

/** Reconnect options that retry at once, so tests do not wait out the backoff. */
export const NO_WAIT: ReconnectOptions = { initialDelay: 0 };
