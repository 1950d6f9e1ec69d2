/** Base URL of every mocked endpoint. */
export const ORIGIN = "http://durastream.test";
