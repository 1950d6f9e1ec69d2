import { InvalidOptionsError } from "./errors.js";

const hexByte: string[] = /* @__PURE__ */ Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
const encoder = /* @__PURE__ */ new TextEncoder();

/**
 * Hashes a step id as it appears on the wire: the hex SHA-1 of `id` for its first use in a run,
 * and of `id:N` for a repeat (N from 1; in a run with no step literally named `id:N`, the N-th
 * repeat — the server skips an N whose `id:N` another step has taken, see PROTOCOL.md "Step ids").
 * Uses Web Crypto, so it runs in browsers, edge runtimes, Deno, Bun and Node alike.
 *
 * @param id - the id given to `step.run`.
 * @param repeat - 0 for the first use of `id` in the run, N for the repeat resolved to `id:N`.
 * @example
 * ```ts
 * await hashStepId("generate");    // sha1("generate")
 * await hashStepId("generate", 1); // sha1("generate:1"), the second step.run("generate", …) of the run
 * ```
 */
export async function hashStepId(id: string, repeat = 0): Promise<string> {
  if (!Number.isInteger(repeat) || repeat < 0) {
    throw new InvalidOptionsError(`hashStepId: repeat must be a whole number >= 0, got ${String(repeat)}.`);
  }
  const input = repeat === 0 ? id : `${id}:${repeat}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(input)));
  let hex = "";
  for (const byte of digest) hex += hexByte[byte];
  return hex;
}
