// A throwaway redis-server on a free loopback port, so measurements see no other traffic.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";

export interface ScratchRedis {
  readonly url: string;
  /** `total_net_output_bytes` of INFO stats: every byte the server has sent so far. */
  outputBytes(): Promise<number>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startScratchRedis(): Promise<ScratchRedis> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), "durastream-measure-"));
  const child: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory], {
    stdio: "ignore",
  });
  const url = `redis://127.0.0.1:${port}`;
  let admin = createClient({ url, socket: { reconnectStrategy: false } });
  for (let attempt = 0; ; attempt += 1) {
    try {
      admin.on("error", () => {});
      await admin.connect();
      await admin.ping();
      break;
    } catch (error) {
      if (attempt > 50) throw error;
      admin = createClient({ url, socket: { reconnectStrategy: false } });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    async outputBytes() {
      const info = await admin.info("stats");
      return Number(/total_net_output_bytes:(\d+)/.exec(info)![1]);
    },
    async close() {
      admin.destroy();
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
