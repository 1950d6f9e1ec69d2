// Durable execution through real Request objects: suspension and replay, the wait endpoint,
// events, tokens, 303 + long-poll, takeover. Time moves only through injected timers.
import { resumeStream } from "@durastream/client";
import { hashStepId, type DataFrame, type Frame, type RedirectFrame } from "@durastream/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { step, stream } from "./context.js";
import { createDurable, type Durable, type DurableOptions, type EndpointOptions } from "./create-durable.js";
import type { DurableHandler } from "./run-types.js";
import { DurableError } from "./errors.js";
import { MemoryRunStore } from "./store/memory-store.js";
import { advanceUntil, collectFrames, createManualTimers, passTime, sseRequest, until, type ManualTimers } from "@durastream/testing";

const opened: Durable[] = [];
afterEach(() => {
  for (const durable of opened.splice(0)) durable.close();
  vi.unstubAllEnvs();
});

function setup(handler: DurableHandler, options: DurableOptions = {}, endpointOptions: EndpointOptions = {}) {
  const timers = (options.timers as ManualTimers | undefined) ?? createManualTimers();
  const durable = createDurable({ backoff: () => 0, maxInlineWait: 1000, ...options, timers });
  opened.push(durable);
  const endpoint = durable.endpoint(handler, { id: "test", ...endpointOptions });
  const waitEndpoint = durable.waitEndpoint();
  return { durable, endpoint, waitEndpoint, timers };
}

const logFrames = (frames: Frame[]) => frames.filter((frame): frame is Exclude<Frame, { type: "metadata" | "redirect" }> => "offset" in frame);
const lastOffset = (frames: Frame[]) => logFrames(frames).at(-1)?.offset;
const dataOf = (frames: Frame[]) => frames.filter((frame): frame is DataFrame => frame.type === "data").map((frame) => frame.data);

/** Reads the wait endpoint from `after` until the result; moves the clock when the run sleeps. */
async function follow(waitEndpoint: (request: Request) => Promise<Response>, url: string, after: string | undefined): Promise<Frame[]> {
  const response = await waitEndpoint(
    new Request(url, { headers: { accept: "text/event-stream", ...(after === undefined ? {} : { "last-event-id": after }) } }),
  );
  expect(response.status).toBe(200);
  return collectFrames(response);
}

describe("suspension and replay", () => {
  it("a long sleep redirects the live connection; the run resumes after it, replaying completed work without streaming it again", async () => {
    const calls = { before: 0, after: 0, handler: 0 };
    const { endpoint, waitEndpoint, timers } = setup(async (request) => {
      calls.handler += 1;
      const { topic } = (await request.json()) as { topic: string };
      stream.push(`topic: ${topic}`);
      const first = await step.run("before", () => {
        calls.before += 1;
        stream.push("before");
        return "b";
      });
      await step.sleep("nap", "1h");
      const second = await step.run("after", () => {
        calls.after += 1;
        stream.push("after");
        return "a";
      });
      return Response.json({ first, second, topic }, { status: 201 });
    });
    const live = await collectFrames(
      await endpoint(
        sseRequest("http://app.test/api/chat", { method: "POST", body: JSON.stringify({ topic: "tides" }), headers: { "content-type": "application/json" } }),
      ),
    );
    const redirect = live.at(-1) as RedirectFrame;
    expect(redirect).toMatchObject({ type: "redirect", reason: "sleep" });
    expect(redirect.url).toBe((live[0] as { resumeUrl: string }).resumeUrl);
    expect(new URL(redirect.url).origin).toBe("http://app.test");
    expect(dataOf(live)).toEqual(["topic: tides", "before"]);

    const rest = follow(waitEndpoint, redirect.url, lastOffset(live));
    await passTime(timers, 3_600_000);
    const frames = await rest;
    expect(dataOf(frames)).toEqual(["after"]);
    expect(logFrames(frames).every((frame) => frame.offset.startsWith("2-"))).toBe(true);
    const result = frames.at(-1);
    expect(result).toMatchObject({ type: "result", status: "succeeded", response: { status: 201 } });
    expect(result?.type === "result" && JSON.parse(result.response.body)).toEqual({ first: "b", second: "a", topic: "tides" });
    expect(calls).toEqual({ before: 1, after: 1, handler: 2 });
  });

  it("sleepUntil waits until the given time, suspending the run when that is far", async () => {
    const { endpoint, waitEndpoint, timers } = setup(async () => {
      await step.sleepUntil("until", new Date(7_200_000));
      return Response.json(timers.now());
    });
    const live = await collectFrames(await endpoint(sseRequest()));
    expect(live.at(-1)).toMatchObject({ type: "redirect", reason: "sleep" });
    const rest = follow(waitEndpoint, (live.at(-1) as RedirectFrame).url, lastOffset(live));
    await passTime(timers, 7_200_000);
    const result = (await rest).at(-1);
    expect(result?.type === "result" && Number(result.response.body)).toBeGreaterThanOrEqual(7_200_000);
    expect(() => step.sleepUntil("bad", "not a date")).toThrow(/is not a time/);
  });

  it("a retry whose backoff exceeds maxInlineWait suspends the run (reason retry) and the next attempt runs after it", async () => {
    const attempts: number[] = [];
    const { endpoint, waitEndpoint, timers } = setup(
      async () => {
        const value = await step.run("flaky", ({ attempt }) => {
          attempts.push(attempt);
          stream.push(`try ${attempt}`);
          if (attempt === 1) throw new Error("rate limited");
          return attempt;
        });
        return Response.json(value);
      },
      { backoff: () => 60_000, maxInlineWait: 5_000 },
    );
    const live = await collectFrames(await endpoint(sseRequest()));
    expect(live.map((frame) => frame.type)).toEqual(["metadata", "data", "rollback", "redirect"]);
    expect(live.at(-1)).toMatchObject({ reason: "retry" });
    const rest = follow(waitEndpoint, (live.at(-1) as RedirectFrame).url, lastOffset(live));
    await passTime(timers, 60_000);
    const frames = await rest;
    expect(dataOf(frames)).toEqual(["try 2"]);
    expect(attempts).toEqual([1, 2]);
    expect(frames.at(-1)).toMatchObject({ type: "result", response: { body: "2" } });
  });

  it("fails a replay that calls steps in another order with a NON_DETERMINISTIC error", async () => {
    let execution = 0;
    const { endpoint, waitEndpoint, timers } = setup(async () => {
      execution += 1;
      if (execution === 1) await step.run("one", () => 1);
      else await step.run("two", () => 2);
      await step.sleep("nap", "1h");
      return new Response("unreachable");
    });
    const live = await collectFrames(await endpoint(sseRequest()));
    const rest = follow(waitEndpoint, (live.at(-1) as RedirectFrame).url, lastOffset(live));
    await passTime(timers, 3_600_000);
    const result = (await rest).at(-1);
    expect(result).toMatchObject({ type: "result", status: "failed", response: { status: 500 } });
    expect(result?.type === "result" && result.response.body).toMatch(/Step "two" \(call 1 of this run\) does not match the journal, which has "one"/);
  });

  it("lets a run go on when its client disconnects; the wait endpoint replays everything it produced", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { endpoint, waitEndpoint } = setup(async () => {
      await step.run("work", async () => {
        stream.push("early");
        await gate;
        stream.push("late");
      });
      return new Response("done");
    });
    const response = await endpoint(sseRequest());
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes('"early"')) seen += (await reader.read()).value;
    const resumeUrl = /"resumeUrl":"([^"]+)"/.exec(seen)![1]!;
    await reader.cancel("tab closed");
    release();
    const frames = await follow(waitEndpoint, resumeUrl, undefined);
    expect(dataOf(frames)).toEqual(["early", "late"]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded", response: { body: "done" } });
  });

  it("redirects a live connection after maxConnectionDuration while the run goes on in this process", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { endpoint, waitEndpoint, timers } = setup(
      async () => {
        await step.run("long", async () => {
          stream.push("part 1");
          await gate;
          stream.push("part 2");
        });
        return new Response("ok");
      },
      { maxConnectionDuration: 20_000 },
    );
    const livePromise = endpoint(sseRequest()).then(collectFrames);
    await until(() => timers.scheduled.includes(20_000));
    timers.advance(20_000);
    const live = await livePromise;
    expect(live.at(-1)).toMatchObject({ type: "redirect", reason: "max-duration" });
    release();
    const rest = await follow(waitEndpoint, (live.at(-1) as RedirectFrame).url, lastOffset(live));
    expect([...dataOf(live), ...dataOf(rest)]).toEqual(["part 1", "part 2"]);
    expect(logFrames(rest).every((frame) => frame.offset.startsWith("1-"))).toBe(true);
  });
});

describe("events", () => {
  it("waitForEvent resolves with a matching event from durable.send and ignores others", async () => {
    const { durable, endpoint, waitEndpoint, timers } = setup(async () => {
      const approval = await step.waitForEvent<{ draftId: string; by: string }>("approval", {
        event: "review/approved",
        match: { "data.draftId": "d1" },
        timeout: "1d",
      });
      return Response.json(approval);
    });
    const live = await collectFrames(await endpoint(sseRequest()));
    expect(live.at(-1)).toMatchObject({ type: "redirect", reason: "wait-for-event" });
    expect(await durable.send({ name: "review/approved", data: { draftId: "other", by: "eve" } })).toEqual({ woken: 0 });
    expect(await durable.send({ name: "review/rejected", data: { draftId: "d1" } })).toEqual({ woken: 0 });
    const rest = follow(waitEndpoint, (live.at(-1) as RedirectFrame).url, lastOffset(live));
    expect(await durable.send({ name: "review/approved", data: { draftId: "d1", by: "ann" } })).toEqual({ woken: 1 });
    const result = (await rest).at(-1);
    expect(result?.type === "result" && JSON.parse(result.response.body)).toEqual({ name: "review/approved", data: { draftId: "d1", by: "ann" } });
    expect(await durable.send({ name: "review/approved", data: { draftId: "d1" } })).toEqual({ woken: 0 });
    expect(timers.now()).toBe(0);
  });

  it("waitForEvent resolves with null when the timeout passes", async () => {
    const { endpoint, waitEndpoint, timers } = setup(async () => {
      const event = await step.waitForEvent("approval", { event: "never", timeout: "2h" });
      return Response.json({ event });
    });
    const live = await collectFrames(await endpoint(sseRequest()));
    const rest = follow(waitEndpoint, (live.at(-1) as RedirectFrame).url, lastOffset(live));
    await passTime(timers, 2 * 3_600_000);
    const result = (await rest).at(-1);
    expect(result?.type === "result" && result.response.body).toBe('{"event":null}');
  });

  it("does not lose an event sent while the run is still busy with another step", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let waiting = false;
    const { durable, endpoint } = setup(async () => {
      const [event] = await Promise.all([
        step.waitForEvent("go", { event: "go", timeout: "1h" }),
        step.run("busy", async () => {
          waiting = true;
          await gate;
          return "done";
        }),
      ]);
      return Response.json(event);
    });
    const framesPromise = endpoint(sseRequest()).then(collectFrames);
    await until(() => waiting);
    await until(() => true);
    expect(await durable.send({ name: "go", data: 7 })).toEqual({ woken: 1 });
    release();
    const frames = await framesPromise;
    expect(frames.at(-1)).toMatchObject({ type: "result", response: { body: '{"name":"go","data":7}' } });
  });

  it("refuses a malformed event and waitForEvent options with INVALID_OPTIONS", async () => {
    const { durable } = setup(async () => new Response());
    await expect(durable.send({ name: "" })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    await expect(step.waitForEvent("x", { event: "e", timeout: "1h" })).rejects.toMatchObject({ code: "NOT_IN_ENDPOINT" });
  });
});

describe("the wait endpoint", () => {
  it("answers a plain request with 303, then long-polls: 202 + Retry-After + Location while running, the exact response when done", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { endpoint, waitEndpoint, timers } = setup(async () => {
      await step.sleep("wait", "1h");
      await step.run("finish", () => gate);
      const headers = new Headers({ "x-custom": "kept" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("accepted later", { status: 202, statusText: "Later", headers });
    });
    const first = await endpoint(new Request("http://app.test/api/job", { method: "POST", body: "{}" }));
    expect(first.status).toBe(303);
    const location = first.headers.get("location")!;
    expect(location).toMatch(/^http:\/\/app\.test\/api\/durable\/[0-9A-Z]{26}\?token=/);

    const pending = waitEndpoint(new Request(location));
    await until(() => timers.scheduled.includes(25_000));
    timers.advance(25_000);
    const stillRunning = await pending;
    expect(stillRunning.status).toBe(202);
    expect(stillRunning.headers.get("retry-after")).toBe("1");
    // The same run's URL, with a token valid for another resumeTokenTtl (24 h) from the answer (at 25 s).
    const next = new URL(stillRunning.headers.get("location")!);
    expect(next.origin + next.pathname).toBe(new URL(location).origin + new URL(location).pathname);
    expect(next.searchParams.get("token")).toMatch(/^86425\./);

    await passTime(timers, 3_600_000);
    const done = waitEndpoint(new Request(location));
    release();
    const response = await done;
    expect(response.status).toBe(202);
    expect(response.statusText).toBe("Later");
    expect(response.headers.get("x-custom")).toBe("kept");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await response.text()).toBe("accepted later");
  });

  it("refuses forged, expired and other-run tokens exactly as it refuses an unknown run", async () => {
    const { endpoint, waitEndpoint, timers } = setup(
      async () => {
        await step.sleep("wait", "1h");
        return new Response("x");
      },
      { resumeTokenTtl: 60_000 },
    );
    const [one, two] = await Promise.all([endpoint(sseRequest()), endpoint(sseRequest())]);
    const urlOne = ((await collectFrames(one))[0] as { resumeUrl: string }).resumeUrl;
    const urlTwo = ((await collectFrames(two))[0] as { resumeUrl: string }).resumeUrl;
    const tokenTwo = new URL(urlTwo).searchParams.get("token")!;
    const answer = async (url: string) => {
      const response = await waitEndpoint(new Request(url, { headers: { accept: "text/event-stream" } }));
      return { status: response.status, headers: [...response.headers], body: await response.text() };
    };
    const unknown = await answer(urlOne.replace(/durable\/[0-9A-Z]{26}/, "durable/01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    expect(unknown.status).toBe(404);
    const forged = new URL(urlOne);
    forged.searchParams.set("token", `${forged.searchParams.get("token")!.split(".")[0]}.${"A".repeat(43)}`);
    const foreign = new URL(urlOne);
    foreign.searchParams.set("token", tokenTwo);
    const missing = new URL(urlOne);
    missing.searchParams.delete("token");
    for (const url of [forged.href, foreign.href, missing.href]) expect(await answer(url)).toEqual(unknown);
    const valid = await waitEndpoint(new Request(urlOne, { headers: { accept: "text/event-stream" } }));
    expect(valid.status).toBe(200);
    await valid.body!.cancel();
    timers.advance(60_000);
    expect(await answer(urlOne)).toEqual(unknown);
  });

  it("slides the token's expiry: a run waiting 2 days with a 1-day TTL stays reachable for a client reconnecting every 12 h with its latest URL; an unused URL expires", async () => {
    const day = 24 * 3_600_000;
    const { endpoint, waitEndpoint, timers } = setup(
      async () => {
        const event = await step.waitForEvent("paid", { event: "order/paid", timeout: "2d" });
        return Response.json({ event });
      },
      { resumeTokenTtl: day },
    );
    const live = await collectFrames(await endpoint(sseRequest()));
    expect(live.at(-1)).toMatchObject({ type: "redirect", reason: "wait-for-event" });
    const original = (live[0] as { resumeUrl: string }).resumeUrl;
    const fetchViaProxy = (input: string | URL | Request, init?: RequestInit) => waitEndpoint(new Request(input, init));
    const status = async (url: string) => {
      const response = await waitEndpoint(new Request(url, { headers: { accept: "text/event-stream" } }));
      await response.body?.cancel();
      return response.status;
    };
    /** The client reconnects with resumeStream and leaves once the metadata frame named the newest URL. */
    const reconnect = async (url: string): Promise<string> => {
      const controller = new AbortController();
      let newest: string | null = null;
      const reading = resumeStream(url, {
        fetch: fetchViaProxy,
        fetchOpts: { signal: controller.signal },
        reconnect: false,
        offset: lastOffset(live),
        onMetadata: (metadata) => {
          newest = metadata.resumeUrl;
          controller.abort(new Error("client leaves"));
        },
      });
      await expect(reading).rejects.toThrow("client leaves");
      expect(newest).not.toBeNull();
      return newest!;
    };

    const urls = [original];
    for (let hour = 12; hour < 48; hour += 12) {
      await passTime(timers, day / 2, 60_000);
      urls.push(await reconnect(urls.at(-1)!));
      // Each answer names the same run with a token valid for another day from now.
      const token = new URL(urls.at(-1)!).searchParams.get("token")!;
      expect(Number(token.split(".")[0]) * 1000).toBe(timers.now() + day);
    }
    expect(timers.now()).toBe(36 * 3_600_000);
    // Past its TTL, a URL nobody renewed gets the unknown-run 404, though the run is still waiting.
    expect(await status(original)).toBe(404);
    expect(await status(urls[1]!)).toBe(404);
    expect(await status(urls.at(-1)!)).toBe(200);

    // At 48 h the wait times out; the client reconnects 12 h after its last visit and gets the result.
    await passTime(timers, day / 2, 60_000);
    const response = await resumeStream(urls.at(-1)!, { fetch: fetchViaProxy, reconnect: false, offset: lastOffset(live) });
    expect(await response.json()).toEqual({ event: null });
    expect(await status(urls[2]!)).toBe(404);
  });

  it("replays strictly after Last-Event-ID or ?offset= and refuses a malformed offset with 400", async () => {
    const { endpoint, waitEndpoint } = setup(async () => {
      for (const word of ["a", "b", "c"]) stream.push(word);
      await step.run("s", () => stream.push("d"));
      return new Response("ok");
    });
    const live = await collectFrames(await endpoint(sseRequest()));
    const url = (live[0] as { resumeUrl: string }).resumeUrl;
    const second = logFrames(live)[1]!.offset;
    expect(dataOf(await follow(waitEndpoint, url, second))).toEqual(["c", "d"]);
    const withQuery = new URL(url);
    withQuery.searchParams.set("offset", second);
    expect(dataOf(await follow(waitEndpoint, withQuery.href, undefined))).toEqual(["c", "d"]);
    expect(dataOf(await follow(waitEndpoint, url, undefined))).toEqual(["a", "b", "c", "d"]);
    const bad = await waitEndpoint(new Request(url, { headers: { accept: "text/event-stream", "last-event-id": "yesterday" } }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/"yesterday" is not a Durastream offset/);
  });

  it("sends CORS headers only to allowed origins and answers preflights", async () => {
    const { endpoint, durable } = setup(async () => new Response("x"));
    const waitEndpoint = durable.waitEndpoint({ cors: { origin: ["https://app.example"], credentials: true } });
    const live = await collectFrames(await endpoint(sseRequest()));
    const url = (live[0] as { resumeUrl: string }).resumeUrl;
    const allowed = await waitEndpoint(new Request(url, { headers: { origin: "https://app.example" } }));
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    const other = await waitEndpoint(new Request(url, { headers: { origin: "https://evil.example" } }));
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await waitEndpoint(new Request(url, { method: "OPTIONS", headers: { origin: "https://app.example" } }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("last-event-id");
    expect(() => durable.waitEndpoint({ cors: { origin: "*", credentials: true } })).toThrow(/cannot be combined with credentials/);
  });

  it("builds resume URLs on the host the client used, and on forwarded host and protocol only with trustProxy", async () => {
    const plain = setup(async () => new Response("x"));
    const request = (headers: Record<string, string>) => sseRequest("http://localhost:3000/api/chat", { headers });
    const urlOf = async (durable: typeof plain, headers: Record<string, string>) =>
      new URL(((await collectFrames(await durable.endpoint(request(headers))))[0] as { resumeUrl: string }).resumeUrl);
    expect((await urlOf(plain, { host: "app.example:8443" })).origin).toBe("http://app.example:8443");
    expect((await urlOf(plain, { host: "app.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" })).origin).toBe("http://app.example");
    expect((await urlOf(plain, { host: "bad host/x" })).origin).toBe("http://localhost:3000");
    const proxied = setup(async () => new Response("x"), { trustProxy: true });
    const forwarded = { host: "10.0.0.7:3000", "x-forwarded-host": "chat.example, inner", "x-forwarded-proto": "https" };
    const resumeUrl = await urlOf(proxied, forwarded);
    expect(resumeUrl.origin).toBe("https://chat.example");
    // The wait endpoint names the same public URL in its own metadata frame.
    const internal = new URL(`${resumeUrl.pathname}${resumeUrl.search}`, "http://localhost:3000");
    const metadata = (await collectFrames(await proxied.waitEndpoint(new Request(internal, { headers: { accept: "text/event-stream", ...forwarded } }))))[0];
    expect((metadata as { resumeUrl: string }).resumeUrl).toBe(resumeUrl.href);
  });

  it("reads forwarded headers with trustProxy by the same rules as serveEndpoint (first value, http/https in any case, a plain host)", async () => {
    const proxied = setup(async () => new Response("x"), { trustProxy: true });
    const originOf = async (headers: Record<string, string>) =>
      new URL(((await collectFrames(await proxied.endpoint(sseRequest("http://localhost:3000/api/chat", { headers }))))[0] as { resumeUrl: string }).resumeUrl)
        .origin;
    expect(await originOf({ host: "app.example", "x-forwarded-proto": "HTTPS, http" })).toBe("https://app.example");
    expect(await originOf({ host: "app.example", "x-forwarded-host": "chat.example:8443" })).toBe("http://chat.example:8443");
    // Not valid: ignored, so the request's own Host and protocol stay.
    expect(await originOf({ host: "app.example", "x-forwarded-host": "evil.example/x", "x-forwarded-proto": "gopher" })).toBe("http://app.example");
  });

  it("builds resume URLs from asyncRedirectUrl", async () => {
    const path = setup(async () => new Response("x"), { asyncRedirectUrl: "/poll" });
    const pathUrl = new URL(((await collectFrames(await path.endpoint(sseRequest("http://h.test/x"))))[0] as { resumeUrl: string }).resumeUrl);
    expect(pathUrl.origin + pathUrl.pathname).toBe("http://h.test/poll");
    expect(pathUrl.searchParams.get("runId")).toMatch(/^[0-9A-Z]{26}$/);
    expect(await path.waitEndpoint(new Request(pathUrl, { headers: { accept: "text/event-stream" } })).then((r) => r.status)).toBe(200);
    const custom = setup(async () => new Response("x"), { asyncRedirectUrl: ({ runId, token }) => `https://cdn.test/runs/${runId}?t=${token}` });
    const customUrl = ((await collectFrames(await custom.endpoint(sseRequest())))[0] as { resumeUrl: string }).resumeUrl;
    expect(customUrl).toMatch(/^https:\/\/cdn\.test\/runs\/[0-9A-Z]{26}\?t=\d+\./);
  });
});

describe("takeover", () => {
  it("another executor takes over a run whose lease expired: interrupted steps are rolled back, the old executor is fenced out", async () => {
    const store = new MemoryRunStore();
    const frozen = createManualTimers(); // executor A's clock never moves: it never renews its lease
    const moving = createManualTimers();
    let attemptsSeen = 0;
    let releaseA!: () => void;
    const gateA = new Promise<void>((resolve) => (releaseA = resolve));
    const handler: DurableHandler = async () => {
      const text = await step.run("generate", async ({ attempt }) => {
        attemptsSeen += 1;
        stream.push(`attempt ${attempt} `);
        if (attemptsSeen === 1) await gateA; // A hangs here, as if its process froze
        return `final ${attempt}`;
      });
      return new Response(text);
    };
    const a = setup(handler, { store, timers: frozen, leaseDuration: 30_000 });
    const liveA = a.endpoint(sseRequest()).then(collectFrames);
    await until(() => attemptsSeen === 1);
    const b = setup(handler, { store, timers: moving, leaseDuration: 30_000, pollInterval: 1_000 });
    // B polls every second; once its clock is past A's lease, it claims the run.
    await advanceUntil(moving, () => attemptsSeen === 2, { what: "B to re-run the step", maxAdvance: 120_000 });
    releaseA(); // A wakes up and tries to commit: fenced
    const [live] = await Promise.all([liveA]);
    const hash = await hashStepId("generate");
    expect(live.filter((frame) => frame.type !== "metadata").map((frame) => `${frame.type} ${"offset" in frame ? frame.offset : ""}`)).toEqual([
      "data 1-1",
      "rollback 2-2",
      "data 2-3",
      "commit 2-4",
      "result 2-5",
    ]);
    expect(live[2]).toMatchObject({ hashedStepId: hash, attempt: 1, willRetry: true, error: { name: "InterruptedError" } });
    expect(live.at(-1)).toMatchObject({ type: "result", response: { body: "final 2" } });
    expect(b.durable.store).toBe(store);
  });
});

describe("scheduler", () => {
  it("does not spin on a due run it cannot resume (its endpoint is not registered here)", async () => {
    const store = new MemoryRunStore();
    const request = { method: "GET", url: "http://h.test/", headers: [], body: null, bodyEncoding: "text" as const };
    await store.createRun({ runId: "orphan", endpointId: "elsewhere", createdAt: 0, request, owner: "gone", leaseExpiresAt: 0 });
    await store.appendFrames("orphan", 1, [], { suspend: { wakeAt: 0 } });
    const timers = createManualTimers();
    setup(async () => new Response("x"), { store, timers, pollInterval: 5_000 });
    await passTime(timers, 20_000);
    // One poll per interval: no zero-delay timers piling up.
    expect(timers.scheduled.filter((milliseconds) => milliseconds === 0)).toEqual([]);
    expect(timers.scheduled.length).toBeLessThan(10);
    expect((await store.getRun("orphan"))?.status).toBe("suspended");
  });
});

describe("requests and limits", () => {
  it("answers 413 for a body over maxBodyBytes, with a message that says what to do", async () => {
    const { endpoint } = setup(async () => new Response("x"), { maxBodyBytes: 10 });
    const response = await endpoint(new Request("http://h.test/x", { method: "POST", body: "x".repeat(11) }));
    expect(response.status).toBe(413);
    expect(await response.text()).toMatch(/larger than 10 bytes.*raise createDurable\(\{ maxBodyBytes \}\)/);
  });

  it("fails the pushing step with LOG_LIMIT when a run streams more frames than allowed", async () => {
    const { endpoint } = setup(
      async () => {
        await step.run("chatty", () => {
          for (let index = 0; index < 10; index += 1) stream.push(index);
        });
        return new Response("unreachable");
      },
      { limits: { maxFramesPerRun: 5 } },
    );
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(dataOf(frames)).toEqual([0, 1, 2, 3, 4]);
    expect(frames.filter((frame) => frame.type === "rollback")).toMatchObject([{ attempt: 1, willRetry: false }]);
    const result = frames.at(-1);
    expect(result?.type === "result" && result.response.body).toMatch(/streamed more than its log may hold \(5 frames/);
  });

  it("hands background work to waitUntil", async () => {
    const waited: Promise<unknown>[] = [];
    const { endpoint } = setup(async () => new Response("x"), { waitUntil: (promise) => waited.push(promise) });
    await collectFrames(await endpoint(sseRequest()));
    expect(waited).toHaveLength(1);
    await expect(waited[0]).resolves.toBeUndefined();
  });

  it("refuses to run in production without a secret, and refuses short secrets", () => {
    vi.stubEnv("DURASTREAM_SECRET", undefined as unknown as string);
    vi.stubEnv("NODE_ENV", "production");
    expect(() => createDurable()).toThrow(DurableError);
    expect(() => createDurable()).toThrow(/Set DURASTREAM_SECRET/);
    expect(() => createDurable({ secret: "short" })).toThrow(/at least 16 characters/);
  });
});
