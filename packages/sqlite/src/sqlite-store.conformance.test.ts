import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineRunStoreConformance } from "@durastream/testing";
import { SqliteRunStore } from "./sqlite-store.js";

defineRunStoreConformance("SqliteRunStore", async ({ retention, now }) => {
  const directory = mkdtempSync(join(tmpdir(), "durastream-sqlite-conformance-"));
  const store = new SqliteRunStore({ path: join(directory, "runs.db"), retention, now });
  return {
    store,
    close: async () => {
      store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
});
