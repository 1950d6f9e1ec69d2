// The pieces of the real-browser test: building the page with Vite, and one loopback server that
// serves the page, the durable endpoint and its wait endpoint. Finding and launching Chromium and
// the named gates are shared with the other browser suites in @durastream/test-browser.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { createDurable, type DurableHandler, type DurableOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";

/** This folder. */
export const browserTestDirectory = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// The page

/**
 * Builds index.html + main.tsx into a temporary folder with Vite, bundling the workspace packages
 * from their TypeScript sources (the `@durastream/source` condition). React runs in development
 * mode so that <StrictMode> double-invokes effects, as it does in a developer's app.
 */
export async function buildPage(): Promise<{ directory: string; remove(): void }> {
  const { build, defaultClientConditions } = await import("vite");
  const directory = mkdtempSync(join(tmpdir(), "durastream-browser-test-"));
  await build({
    configFile: false,
    root: browserTestDirectory,
    mode: "development",
    logLevel: "warn",
    define: { "process.env.NODE_ENV": JSON.stringify("development") },
    resolve: {
      conditions: ["@durastream/source", ...defaultClientConditions],
      // The page is inside @durastream/react itself: point its own name at its package folder so the
      // exports map (and the source condition) still decide the entry.
      alias: { "@durastream/react": resolve(browserTestDirectory, "..") },
    },
    oxc: { jsx: { runtime: "automatic" } },
    build: {
      outDir: directory,
      emptyOutDir: true,
      minify: false,
      sourcemap: "inline",
      reportCompressedSize: false,
      chunkSizeWarningLimit: 10_000,
      rolldownOptions: {
        // "use client" at the top of the hook's file is for React Server Components bundlers; a
        // client-only bundle drops it, as intended.
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  });
  return { directory, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------
// The server

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

interface RequestRecord {
  method: string;
  path: string;
}

/**
 * One origin on loopback: the built page at `/`, the durable endpoint at `/api/chat`, its wait
 * endpoint (`durable.waitEndpoint()`) at `/api/durable/`. Records every API request.
 */
export async function startChatServer(pageDirectory: string, handler: DurableHandler, options: DurableOptions = {}) {
  const durable = createDurable({ backoff: () => 0, secret: "browser-test-resume-token-secret", ...options });
  const endpoint = durable.endpoint(handler, { id: "chat" });
  const waitEndpoint = durable.waitEndpoint();
  const requests: RequestRecord[] = [];
  const watchers = new Set<() => void>();
  const root = resolve(pageDirectory);

  const servePage = (pathname: string): Response => {
    const file = resolve(root, `.${pathname === "/" ? "/index.html" : decodeURIComponent(pathname)}`);
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return new Response("not found", { status: 404 });
    return new Response(readFileSync(file), {
      headers: { "content-type": contentTypes[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" },
    });
  };

  const server = createEndpointServer(async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/api/chat" || pathname.startsWith("/api/durable/")) {
      requests.push({ method: request.method, path: pathname });
      for (const watcher of watchers) watcher();
    }
    if (pathname === "/api/chat") return endpoint(request);
    if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
    return servePage(pathname);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    durable,
    requests,
    /** The POSTs that started runs. */
    posts: () => requests.filter((request) => request.method === "POST" && request.path === "/api/chat").length,
    /** Requests to the wait endpoint (redirects followed, resumes after a reload). */
    waitEndpointRequests: () => requests.filter((request) => request.path.startsWith("/api/durable/")).length,
    /**
     * Resolves once `condition()` holds, checked on every API request (event-driven); rejects
     * naming `what` after `timeout` ms (a bound for a failure, not a pace).
     */
    untilRequests(condition: () => boolean, what: string, timeout = 15_000): Promise<void> {
      if (condition()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watcher);
          reject(new Error(`Waiting for ${what}: the server saw ${JSON.stringify(requests)}`));
        }, timeout);
        const watcher = () => {
          if (!condition()) return;
          watchers.delete(watcher);
          clearTimeout(timer);
          resolve();
        };
        watchers.add(watcher);
      });
    },
    close() {
      durable.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

export type ChatServer = Awaited<ReturnType<typeof startChatServer>>;
