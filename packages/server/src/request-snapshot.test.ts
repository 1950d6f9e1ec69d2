import { describe, expect, it } from "vitest";
import { requestFromSnapshot, snapshotRequest } from "./request-snapshot.js";

describe("request snapshots", () => {
  it("keeps method, URL, allow-listed headers and the body (binary as base64) for re-executions", async () => {
    const bytes = new Uint8Array([0, 255, 1, 128]);
    const request = new Request("https://app.test/api/chat?x=1", {
      method: "PUT",
      headers: { "content-type": "application/octet-stream", authorization: "Bearer secret", "x-other": "1" },
      body: bytes,
    });
    const { snapshot, body } = await snapshotRequest(request, { maxBodyBytes: 100, headers: ["content-type", "accept"] });
    expect(snapshot).toEqual({
      method: "PUT",
      url: "https://app.test/api/chat?x=1",
      headers: [["content-type", "application/octet-stream"]],
      body: "AP8BgA==",
      bodyEncoding: "base64",
    });
    expect(body).toEqual(bytes);
    const rebuilt = requestFromSnapshot(snapshot);
    expect(rebuilt.headers.get("authorization")).toBeNull();
    expect(new Uint8Array(await rebuilt.arrayBuffer())).toEqual(bytes);
  });

  it("refuses a body over the limit, whether or not content-length announces it", async () => {
    const announced = new Request("https://app.test/", { method: "POST", body: "123456", headers: { "content-length": "6" } });
    await expect(snapshotRequest(announced, { maxBodyBytes: 5, headers: [] })).rejects.toMatchObject({ code: "BODY_TOO_LARGE" });
    const streamed = new Request("https://app.test/", {
      method: "POST",
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new Uint8Array(3));
          controller.enqueue(new Uint8Array(3));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    await expect(snapshotRequest(streamed, { maxBodyBytes: 5, headers: [] })).rejects.toMatchObject({ code: "BODY_TOO_LARGE" });
  });
});
