// Shared by the browser test suites (packages/react/browser-test, examples/browser,
// examples/next-chat, playground): finding and launching Chromium through playwright-core, and the
// named gates a test uses to decide when a server-side step goes on.
import { existsSync } from "node:fs";

// ---------------------------------------------------------------------------------------------
// Chromium

/** Where Chromium is looked for: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const chromiumFound = existsSync(chromiumPath);
/** CI must never skip a browser test. */
export const inCI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false" && process.env.CI !== "0";

export const chromiumInstallHint =
  `Chromium not found at ${chromiumPath}. Install it (Debian/Ubuntu: \`sudo apt-get update && sudo apt-get install -y chromium\`) ` +
  "or point CHROMIUM_PATH at a Chromium or Chrome binary.";

/** The flags the browser runs with: headless, no sandbox (CI runs as root), nothing that phones home. */
export const chromiumArgs: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--disable-dev-shm-usage", // small /dev/shm in containers
];

/** Skipped only off CI on a machine without Chromium; in CI a missing Chromium fails. */
export const skipBrowserTests = !chromiumFound && !inCI;

/** Launches headless Chromium with {@link chromiumArgs}; throws {@link chromiumInstallHint} when it is missing. */
export async function launchChromium() {
  if (!chromiumFound) throw new Error(chromiumInstallHint);
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs] });
}

// ---------------------------------------------------------------------------------------------
// Gates: the test decides when a step goes on

/** Longest wait in `reached` by default: a bound for a failure, not a pace. */
const GATE_TIMEOUT = 10_000;

/**
 * Named one-shot gates: a server-side step waits on one; the test learns it is waiting, then opens
 * it. `reached` rejects after `timeout` ms (a bound for a failure, not a pace).
 */
export function createGates(options: { timeout?: number } = {}) {
  const timeout = options.timeout ?? GATE_TIMEOUT;
  const gates = new Map<string, { reached: Promise<void>; markReached(): void; opened: Promise<void>; open(): void }>();
  const gate = (name: string) => {
    let entry = gates.get(name);
    if (entry === undefined) {
      let markReached!: () => void;
      let open!: () => void;
      const reached = new Promise<void>((resolve) => (markReached = resolve));
      const opened = new Promise<void>((resolve) => (open = resolve));
      entry = { reached, markReached, opened, open };
      gates.set(name, entry);
    }
    return entry;
  };
  return {
    /** Server side: waits until the test opens `name`. */
    wait(name: string): Promise<void> {
      const entry = gate(name);
      entry.markReached();
      return entry.opened;
    },
    /** Test side: resolves once a step waits on `name`. */
    reached(name: string): Promise<void> {
      return within(gate(name).reached, `the server to reach gate "${name}"`, timeout);
    },
    /** Test side: lets the step waiting on `name` go on. */
    open: (name: string): void => gate(name).open(),
    /** Test side: opens every gate (cleanup after a failure). */
    openAll: (): void => {
      for (const entry of gates.values()) entry.open();
    },
  };
}

export type Gates = ReturnType<typeof createGates>;

function within<T>(promise: Promise<T>, what: string, timeout: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), timeout)));
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
