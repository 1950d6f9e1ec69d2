import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommittedViewProperty } from "@durastream/testing";
import { SqliteRunStore } from "./sqlite-store.js";

defineCommittedViewProperty(
  "SqliteRunStore",
  async () => {
    const directory = mkdtempSync(join(tmpdir(), "durastream-property-"));
    const store = new SqliteRunStore({ path: join(directory, "runs.sqlite") });
    return {
      store,
      close: async () => {
        store.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  },
  { numRuns: 20 },
);
