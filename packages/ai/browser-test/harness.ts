// The pieces of the useChat browser test: building the page with Vite, and the chat server as a
// child process (chat-server.ts) whose events the test waits on. Finding and launching Chromium is
// shared with the other browser suites in @durastream/test-browser.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** This folder. */
export const browserTestDirectory = dirname(fileURLToPath(import.meta.url));
/** Longest wait for one server event: a bound for a failure, not a pace. */
const EVENT_TIMEOUT = 15_000;

/**
 * Builds index.html + main.tsx into `directory` (see {@link pageFolder}) with Vite, bundling the workspace packages
 * from their TypeScript sources (the `@durastream/source` condition). React runs in development
 * mode, in <StrictMode>, as in a developer's app.
 */
export async function buildPage(directory: string): Promise<void> {
  const { build, defaultClientConditions } = await import("vite");
  await build({
    configFile: false,
    root: browserTestDirectory,
    mode: "development",
    logLevel: "warn",
    define: { "process.env.NODE_ENV": JSON.stringify("development") },
    resolve: { conditions: ["@durastream/source", ...defaultClientConditions], dedupe: ["react", "react-dom"] },
    oxc: { jsx: { runtime: "automatic" } },
    build: {
      outDir: directory,
      emptyOutDir: true,
      minify: false,
      sourcemap: false, // inline maps would triple the bundle every page load parses
      reportCompressedSize: false,
      chunkSizeWarningLimit: 10_000,
      rolldownOptions: {
        // "use client" directives are for React Server Components bundlers; a client bundle drops them.
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  });
}

/** A temporary folder for the built page. */
export function pageFolder(): { directory: string; remove(): void } {
  const directory = mkdtempSync(join(tmpdir(), "durastream-ai-browser-test-page-"));
  return { directory, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

/** One line "event <json>" of the child server. */
interface ServerEvent {
  type: string;
  generation: number;
  chat?: string | null;
  [field: string]: unknown;
}

/** The files a chat server process works on; kept across its restarts. */
export interface ServerFiles {
  directory: string;
  database: string;
  sideEffects: string;
  page: string;
}

export function serverFiles(page: string): ServerFiles {
  const directory = mkdtempSync(join(tmpdir(), "durastream-ai-browser-test-server-"));
  return { directory, database: join(directory, "runs.sqlite"), sideEffects: join(directory, "side-effects.txt"), page };
}

/**
 * Spawns chat-server.ts in a child process (node with tsx and the `@durastream/source` condition)
 * and resolves once it has loaded, on standby: it opens the SQLite file and listens only when
 * `start(port)` is called (0: any free port). `generation` counts the processes on the file.
 */
export async function spawnChatServer(files: ServerFiles, generation: number) {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--conditions=@durastream/source",
      "--import",
      "tsx",
      join(browserTestDirectory, "chat-server.ts"),
      files.database,
      files.page,
      files.sideEffects,
      String(generation),
    ],
    { cwd: dirname(browserTestDirectory), env: process.env, stdio: ["pipe", "pipe", "inherit"] },
  );
  const events: ServerEvent[] = [];
  const lines: string[] = [];
  const watchers = new Set<() => void>();
  let exitCode: string | undefined;
  const exited = once(child, "exit").then(([code, signal]) => {
    exitCode = String(code ?? signal);
    for (const watcher of watchers) watcher();
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    if (line.startsWith("event ")) events.push(JSON.parse(line.slice("event ".length)) as ServerEvent);
    for (const watcher of watchers) watcher();
  });

  /** Resolves once `condition()` holds, checked on every line the server prints; rejects if it exits first or after `timeout`. */
  const until = (condition: () => boolean, what: string, timeout = EVENT_TIMEOUT): Promise<void> => {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        watchers.delete(watcher);
        clearTimeout(timer);
        reject(new Error(`Waiting for ${what}: ${why}. The server printed:\n${lines.slice(-40).join("\n")}`));
      };
      const timer = setTimeout(() => fail(`not within ${timeout} ms`), timeout);
      const watcher = () => {
        if (condition()) {
          watchers.delete(watcher);
          clearTimeout(timer);
          resolve();
        } else if (exitCode !== undefined) fail(`the server exited (${exitCode})`);
      };
      watchers.add(watcher);
    });
  };

  await until(() => lines.includes("standby"), "the chat server to load", 60_000);
  return {
    /** Opens the store, listens on `port`, and resolves with the running server. */
    start: (port: number) => listen(port),
    /** Ends the process without having started it (a standby that is not needed). */
    async discard(): Promise<void> {
      if (exitCode === undefined) child.kill("SIGKILL");
      await exited;
    },
  };

  async function listen(port: number) {
    child.stdin!.write(`start ${port}\n`);
    await until(() => lines.some((line) => line.startsWith("listening ")), "the chat server to listen", 60_000);
    const listening = Number(lines.find((line) => line.startsWith("listening "))!.split(" ")[1]);
    const origin = `http://127.0.0.1:${listening}`;

    const of = (chat: string, type: string) => events.filter((event) => event.chat === chat && event.type === type);
    return {
      origin,
      port: listening,
      generation,
      child,
      events,
      exited,
      /** Whether the process is still running. */
      alive: () => exitCode === undefined,
      /** Events of `type` for chat `chat`. */
      of,
      until,
      /** Resolves once the scripted model of `chat` waits on gate `name`. */
      gateReached: (chat: string, name: string) =>
        until(() => of(chat, "gate").some((event) => event.name === name), `chat ${chat}'s model to reach gate "${name}"`),
      /** Lets the model of `chat` go on past gate `name` (before or after it got there). */
      async open(chat: string, name: string): Promise<void> {
        const response = await fetch(`${origin}/control/open?gate=${encodeURIComponent(`${chat}:${name}`)}`, { method: "POST" });
        if (response.status !== 204) throw new Error(`opening gate ${name}: HTTP ${response.status}`);
      },
      /** The tool's side effects for `chat`, counted in the file (over every process). */
      async sideEffects(chat: string): Promise<number> {
        return ((await (await fetch(`${origin}/control/side-effects?chat=${encodeURIComponent(chat)}`)).json()) as { count: number }).count;
      },
      /** The stored run: its status and the status of its result. */
      async run(runId: string): Promise<{ status: string; resultStatus: number | null } | null> {
        return (await (await fetch(`${origin}/control/run?id=${encodeURIComponent(runId)}`)).json()) as { status: string; resultStatus: number | null } | null;
      },
      /** SIGKILL, and resolves once the process is gone (its lock on the SQLite file with it). */
      async kill(): Promise<void> {
        child.kill("SIGKILL");
        await exited;
      },
      async stop(): Promise<void> {
        if (exitCode === undefined) child.kill("SIGTERM");
        await exited;
      },
    };
  }
}

export type StandbyChatServer = Awaited<ReturnType<typeof spawnChatServer>>;
export type ChatServer = Awaited<ReturnType<StandbyChatServer["start"]>>;
