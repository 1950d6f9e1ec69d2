// The node-server example over real loopback HTTP: the app from server.ts on port 0, the chat
// function from client.ts (fetchWithStream), and both scripts run the way the README says.
import { spawn, type ChildProcess } from "node:child_process";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { chat } from "./client.js";
import { createApp, replyTo, type ChatAppOptions } from "./server.js";

const exampleDirectory = dirname(fileURLToPath(import.meta.url));
const servers: Server[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGTERM");
});

/** Starts the app on a free loopback port; no token delay and no backoff, so a run takes milliseconds. */
async function start(options: ChatAppOptions = {}): Promise<string> {
  const server = createApp({ failures: 1, tokenDelayMs: 0, ...options, durable: { backoff: () => 0, ...options.durable } });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe("node-server example", () => {
  it("streams the answer: the failed attempt is rolled back, the retry is committed exactly once", async () => {
    const origin = await start();
    const prompt = "Why are durable streams useful?";
    const lines: string[] = [];
    const transcript = await chat(`${origin}/api/chat`, prompt, (line) => lines.push(line));
    const answer = replyTo(prompt);

    expect(transcript.rolledBack).toHaveLength(1);
    const [rollback] = transcript.rolledBack;
    expect(rollback!.attempt).toBe(1);
    expect(rollback!.error).toContain("injected failure 1 of 1");
    // The failed attempt streamed the first tokens of the answer before it failed.
    expect(rollback!.text.length).toBeGreaterThan(0);
    expect(answer.startsWith(rollback!.text)).toBe(true);
    expect(rollback!.text).not.toBe(answer);

    expect(transcript.committed).toBe(answer);
    expect(occurrences(transcript.committed, "You asked:")).toBe(1);
    expect(transcript.status).toBe(200);
    expect(transcript.body).toMatchObject({ prompt, answer, finishReason: "stop" });
    expect(transcript.redirects).toEqual([]);
    expect(lines[0]).toMatch(/^run [0-9A-Z]{26}$/);
    expect(lines.some((line) => line.startsWith("rollback attempt 1"))).toBe(true);
  });

  it("?failures=0 streams straight through; ?failures=4 exhausts the retries and answers 503", async () => {
    const origin = await start();
    const clean = await chat(`${origin}/api/chat?failures=0`, "hi");
    expect(clean.rolledBack).toEqual([]);
    expect(clean.committed).toBe(replyTo("hi"));

    const broken = await chat(`${origin}/api/chat?failures=4`, "hi");
    expect(broken.rolledBack.map(({ attempt }) => attempt)).toEqual([1, 2, 3, 4]);
    expect(broken.committed).toBe("");
    expect(broken.status).toBe(503);
    expect(broken.body).toEqual({ error: "The model failed 4 times; try again later." });
  });

  it("?pause= longer than maxInlineWait redirects to the wait endpoint, where the answer streams on", async () => {
    const origin = await start({ durable: { maxInlineWait: 0 } });
    const transcript = await chat(`${origin}/api/chat?pause=50ms`, "wait for it");
    expect(transcript.redirects).toHaveLength(1);
    expect(transcript.redirects[0]!.reason).toBe("sleep");
    expect(new URL(transcript.redirects[0]!.url).pathname).toBe(`/api/durable/${transcript.runId}`);
    expect(transcript.rolledBack).toHaveLength(1);
    expect(transcript.committed).toBe(replyTo("wait for it"));
    expect(transcript.body).toMatchObject({ answer: replyTo("wait for it") });
  });

  it("rejects a request without a prompt with 400, and other methods with 405", async () => {
    const origin = await start();
    const missing = await fetch(`${origin}/api/chat`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(missing.status).toBe(400);
    expect((await fetch(`${origin}/api/chat`)).status).toBe(405);
  });

  it("runs as the README says: server.ts prints its URL, client.ts prints committed and rolled-back text", async () => {
    const run = (script: string, env: Record<string, string>, args: string[] = []) => {
      const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", script, ...args], {
        cwd: exampleDirectory,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let output = "";
      child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      return { child, output: () => output };
    };
    const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

    const server = run("server.ts", { PORT: "0", CHAT_TOKEN_DELAY_MS: "2" });
    const url = await new Promise<string>((resolve, reject) => {
      const onData = () => {
        const match = /listening on (http:\/\/localhost:\d+)/.exec(server.output());
        if (match !== null) resolve(match[1]!);
      };
      server.child.stdout!.on("data", onData);
      server.child.once("exit", (code) => reject(new Error(`server.ts exited with ${code}:\n${server.output()}`)));
    });

    const client = run("client.ts", { CHAT_URL: `${url}/api/chat` }, ["--", "Hello", "there"]);
    expect(await exited(client.child), client.output()).toBe(0);
    const output = client.output();
    expect(output).toContain("rollback attempt 1 (the model dropped the connection (injected failure 1 of 1)), retrying");
    expect(output).toContain(`committed:\n  ${replyTo("Hello there")}\n`);
    expect(output).toContain("response 200:");

    server.child.kill("SIGTERM");
    expect(await exited(server.child)).toBe(0);
  });
});
