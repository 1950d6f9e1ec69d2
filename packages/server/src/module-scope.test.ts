import { fetchWithStream } from "@durastream/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { step } from "./context.js";
import { createDurable } from "./create-durable.js";
import { DurableError } from "./errors.js";

// workerd forbids random values (and crypto work) in global scope, where apps call createDurable():
// everything random is made on first use.
describe("createDurable at module scope", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it("makes no random value and no key until the first request, then serves and resumes as before", async () => {
    vi.stubEnv("DURASTREAM_SECRET", undefined as unknown as string); // the random per-process secret
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const random = vi.spyOn(globalThis.crypto, "getRandomValues");
    const importKey = vi.spyOn(globalThis.crypto.subtle, "importKey");

    const durable = createDurable();
    const endpoint = durable.endpoint(async () => Response.json({ answer: await step.run("answer", () => 42) }), { id: "module-scope" });
    const wait = durable.waitEndpoint();
    expect(random).not.toHaveBeenCalled();
    expect(importKey).not.toHaveBeenCalled();

    let resumeUrl: string | null = null;
    const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      return new URL(request.url).pathname.startsWith("/api/durable/") ? wait(request) : endpoint(request);
    };
    const response = await fetchWithStream("http://app.test/answer", {
      fetch,
      onMetadata: (metadata) => {
        resumeUrl = metadata.resumeUrl;
      },
    });
    expect(await response.json()).toEqual({ answer: 42 });
    expect(random).toHaveBeenCalled();
    expect(importKey).toHaveBeenCalledTimes(1);
    // The lazily made secret signs and checks the resume URL.
    expect(resumeUrl).toMatch(/^http:\/\/app\.test\/api\/durable\/[^?]+\?token=/);
    const resumed = await wait(new Request(resumeUrl!));
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toEqual({ answer: 42 });
    await durable.close();
  });

  it("says what to do when the environment cannot be read and no secret was passed (Deno without --allow-env)", () => {
    vi.stubGlobal("process", {
      ...process,
      env: new Proxy(
        {},
        {
          get() {
            throw new Error('Requires env access to "DURASTREAM_SECRET", run again with the --allow-env flag');
          },
        },
      ),
    });
    try {
      let thrown: unknown;
      try {
        createDurable();
      } catch (error) {
        thrown = error;
      }
      expect(DurableError.isInstance(thrown)).toBe(true);
      expect((thrown as DurableError).code).toBe("NO_SECRET");
      expect((thrown as Error).message).toMatch(
        /Pass \{ secret \} to createDurable, or allow reading the environment \(Deno: --allow-env=DURASTREAM_SECRET,NODE_ENV\)/,
      );
      // With a secret the environment is not read at all.
      expect(() => createDurable({ secret: "a-secret-of-sixteen-chars-or-more" })).not.toThrow();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
