import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineChaosProperty } from "@durastream/testing";
import { SqliteRunStore } from "./sqlite-store.js";

// A fresh file per case. Every simulated process wraps this store in its own FaultyStore (which has
// no close()), so `durable.close()` never closes it: the factory's close does, once the case is over.
// 200 cases by default; CHAOS_RUNS=2000 (and CHAOS_SEED to replay one) locally for more.
defineChaosProperty("SqliteRunStore", async () => {
  const directory = mkdtempSync(join(tmpdir(), "durastream-chaos-"));
  const store = new SqliteRunStore({ path: join(directory, "runs.sqlite") });
  return {
    store,
    close: async () => {
      store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
});
