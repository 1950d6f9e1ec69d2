import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

export interface RunningServer {
  readonly origin: string;
  /** Everything the server wrote to stderr so far. */
  readonly stderr: () => string;
  readonly stop: () => Promise<void>;
}

const environment = { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };

function collect(child: ChildProcess): () => string {
  let text = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
  });
  return () => text;
}

/**
 * Starts a scenario server (`command ...args`), which prints `{"port":N}` as its first line, and
 * resolves once it listens. Rejects with its stderr when it exits first.
 */
export async function startServer(command: string, args: readonly string[]): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: environment });
  const stderr = collect(child);
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`${command} ${args.join(" ")} exited with ${String(code)} before listening:\n${stderr()}`);
  });
  const lines = createInterface({ input: child.stdout! });
  const listening = once(lines, "line").then(([line]) => JSON.parse(line as string) as { port: number });
  try {
    const { port } = await Promise.race([listening, exited]);
    return {
      origin: `http://127.0.0.1:${port}`,
      stderr,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = once(child, "exit");
        child.kill("SIGKILL");
        await gone;
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

/** Runs `command ...args` to its end; resolves with its exit code, stdout and stderr. */
export async function runToEnd(command: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: environment });
  const stderr = collect(child);
  let stdout = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr: stderr() };
}
