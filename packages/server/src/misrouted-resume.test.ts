import { resumeStream } from "@durastream/client";
import { describe, expect, it } from "vitest";
import { step } from "./context.js";
import { createDurable } from "./create-durable.js";

// A catch-all route (`Bun.serve({ fetch: endpoint })`) sends the client's resume GET to the
// endpoint: it must not start a second run, and must say to mount the wait endpoint.
describe("a resume request that reaches durable.endpoint()", () => {
  it("starts no run and answers with an error that says to mount durable.waitEndpoint()", async () => {
    const durable = createDurable();
    let runs = 0;
    const endpoint = durable.endpoint(
      async () => {
        runs += 1;
        return Response.json({ answer: await step.run("answer", () => 42) });
      },
      { id: "catch-all" },
    );
    const first = await endpoint(new Request("http://app.test/anything", { method: "POST", headers: { accept: "text/event-stream" } }));
    const text = await first.text();
    const resumeUrl = /"resumeUrl":"([^"]+)"/.exec(text)?.[1];
    expect(resumeUrl).toMatch(/^http:\/\/app\.test\/api\/durable\/[^?]+\?token=\d+\./);
    expect(runs).toBe(1);

    let status = 0;
    let body = "";
    const fetchToEndpoint = async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await endpoint(new Request(input, init));
      status = response.status;
      body = await response.clone().text();
      return response;
    };
    await resumeStream(resumeUrl!, { fetch: fetchToEndpoint, reconnect: false }).catch(() => undefined);
    expect(runs).toBe(1);
    expect(status).toBe(500);
    expect(body).toContain("reached durable.endpoint(), which would start another run. Serve /api/durable/<runId> with durable.waitEndpoint()");
    // A DELETE (cancelRun) gets the same answer; other requests still start runs.
    expect((await endpoint(new Request(resumeUrl!, { method: "DELETE" }))).status).toBe(500);
    expect((await endpoint(new Request("http://app.test/api/durable/other?token=nope"))).status).toBe(200);
    expect(runs).toBe(2);
    await durable.close();
  });
});
