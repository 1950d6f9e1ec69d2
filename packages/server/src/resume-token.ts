import { InvalidOptionsError } from "@durastream/protocol";
import { base64UrlToBytes, bytesToBase64Url } from "@durastream/protocol/internal";
import { DurableError } from "./errors.js";

const encoder = new TextEncoder();

/**
 * Signs and checks the tokens in resume URLs: HMAC-SHA256 (Web Crypto) over the run id and an
 * expiry, so a token opens exactly one run until it expires. Tokens look like
 * `<expiry in epoch-seconds>.<base64url signature>`.
 */
export class ResumeTokens {
  readonly #secret: string | (() => string);
  #cryptoKey: Promise<CryptoKey> | undefined;

  /**
   * `secret` may be a function, called once on first use: the key is made then, not at
   * construction, because workerd forbids random values (and crypto) in global scope, where apps
   * call `createDurable()`.
   */
  constructor(secret: string | (() => string)) {
    this.#secret = secret;
  }

  get #key(): Promise<CryptoKey> {
    if (this.#cryptoKey === undefined) {
      const secret = typeof this.#secret === "function" ? this.#secret() : this.#secret;
      this.#cryptoKey = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    }
    return this.#cryptoKey;
  }

  /** A token for `runId` that expires at `expiresAt` (epoch-milliseconds). */
  async sign(runId: string, expiresAt: number): Promise<string> {
    const expiry = Math.ceil(expiresAt / 1000);
    const signature = await crypto.subtle.sign("HMAC", await this.#key, encoder.encode(`${runId}.${expiry}`));
    return `${expiry}.${bytesToBase64Url(new Uint8Array(signature))}`;
  }

  /** Whether `token` was signed for `runId` and has not expired at `now`. Constant-time in the signature. */
  async verify(runId: string, token: string | null, now: number): Promise<boolean> {
    if (token === null) return false;
    const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (match === null) return false;
    const expiry = Number(match[1]);
    if (expiry * 1000 <= now) return false;
    const signature = base64UrlToBytes(match[2]!);
    if (signature === undefined) return false;
    return crypto.subtle.verify("HMAC", await this.#key, signature, encoder.encode(`${runId}.${expiry}`));
  }
}

let warnedAboutSecret = false;

/** An environment variable, or undefined where there is no `process.env`. */
function readEnvironment(name: string): string | undefined {
  const environment = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  try {
    return environment?.[name];
  } catch (error) {
    // Deno without --allow-env refuses to read it (NotCapable): say what to do instead.
    throw new DurableError(
      "NO_SECRET",
      `createDurable: no secret for resume tokens was passed and ${name} cannot be read from the environment (${error instanceof Error ? error.message : String(error)}). Pass { secret } to createDurable, or allow reading the environment (Deno: --allow-env=DURASTREAM_SECRET,NODE_ENV).`,
      { cause: error },
    );
  }
}

/**
 * The secret for resume tokens: the option, else `DURASTREAM_SECRET`, else (outside production) a
 * random one for this process with a one-time warning. In production a missing secret is an error:
 * tokens would not survive a restart or work across instances. The random secret is a function
 * that makes it on first use (see {@link ResumeTokens}).
 */
export function resolveSecret(secret: string | undefined): string | (() => string) {
  const chosen = secret ?? readEnvironment("DURASTREAM_SECRET");
  if (chosen !== undefined) {
    if (typeof chosen !== "string" || chosen.length < 16) {
      throw new InvalidOptionsError(
        "createDurable: the resume-token secret must be a string of at least 16 characters; set DURASTREAM_SECRET to a long random value (e.g. `openssl rand -hex 32`).",
      );
    }
    return chosen;
  }
  if (readEnvironment("NODE_ENV") === "production") {
    throw new DurableError(
      "NO_SECRET",
      "createDurable: no secret for resume tokens. Set DURASTREAM_SECRET (e.g. `openssl rand -hex 32`) or pass { secret } — the same value on every instance.",
    );
  }
  if (!warnedAboutSecret) {
    warnedAboutSecret = true;
    console.warn(
      "[durastream] No DURASTREAM_SECRET set: using a random secret for this process. Resume URLs stop working when it restarts. Set DURASTREAM_SECRET in production.",
    );
  }
  return () => bytesToBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}
