import { DurastreamError, InvalidOptionsError, ProtocolError } from "@durastream/protocol";
import { describe, expect, it } from "vitest";
import { createDurable } from "./create-durable.js";
import { DurableError, NonRetriableError, StepFailedError, StoreRefusedError } from "./errors.js";
import { MemoryRunStore } from "./store/memory-store.js";
import { FrameLog } from "./store/frame-log.js";
import type { NewRun } from "./store/run-store.js";

const markerOf = (name: string): symbol => Symbol.for(`durastream.error.${name}`);

describe("the error model", () => {
  const errors = {
    DurableError: new DurableError("TIMEOUT", "slow"),
    NonRetriableError: new NonRetriableError("no"),
    StepFailedError: new StepFailedError("charge", 3, new Error("card declined")),
    StoreRefusedError: new StoreRefusedError("fenced", "r1"),
    InvalidOptionsError: new InvalidOptionsError("bad"),
    ProtocolError: new ProtocolError("INVALID_FRAME", "bad frame"),
  };
  const guards = {
    DurableError: DurableError.isInstance,
    NonRetriableError: NonRetriableError.isInstance,
    StepFailedError: StepFailedError.isInstance,
    StoreRefusedError: StoreRefusedError.isInstance,
    InvalidOptionsError: InvalidOptionsError.isInstance,
    ProtocolError: ProtocolError.isInstance,
  };
  const durableKinds = new Set(["DurableError", "NonRetriableError", "StepFailedError", "StoreRefusedError"]);

  it("has one base: every error is a DurastreamError with a code, and keeps its name", () => {
    for (const [name, error] of Object.entries(errors)) {
      expect(error).toBeInstanceOf(DurastreamError);
      expect(DurastreamError.isInstance(error)).toBe(true);
      expect(error.name).toBe(name);
      expect(typeof error.code).toBe("string");
    }
    expect(errors.StepFailedError.cause).toEqual(new Error("card declined"));
  });

  it("has isInstance exact for each class: true for itself (and DurableError for its subclasses) only", () => {
    for (const [guardName, guard] of Object.entries(guards)) {
      for (const [errorName, error] of Object.entries(errors)) {
        const expected = guardName === errorName || (guardName === "DurableError" && durableKinds.has(errorName));
        expect(guard(error), `${guardName}.isInstance(${errorName})`).toBe(expected);
      }
    }
  });

  it("does not take a plain DurableError with a subclass's code for that subclass (the old STORE_REFUSED bug)", () => {
    const plain = new DurableError("STORE_REFUSED", "refused, but why?");
    expect(StoreRefusedError.isInstance(plain)).toBe(false);
    expect(DurableError.isInstance(plain)).toBe(true);
    expect(NonRetriableError.isInstance(new DurableError("NON_RETRIABLE", "x"))).toBe(false);
    expect(StepFailedError.isInstance(new DurableError("STEP_FAILED", "x"))).toBe(false);
    // Every StoreRefusedError has a reason.
    for (const reason of ["fenced", "over", "unknown-run"] as const) {
      const refused = new StoreRefusedError(reason, "r1");
      expect(StoreRefusedError.isInstance(refused) && refused.reason).toBe(reason);
      expect(refused.code).toBe("STORE_REFUSED");
    }
  });

  it("refuses with a StoreRefusedError that has a reason wherever the server's own code refuses a write", async () => {
    const log = new FrameLog();
    log.append(2, "data", '{"step":null,"data":1}');
    let caught: unknown;
    try {
      log.append(1, "data", '{"step":null,"data":2}');
    } catch (error) {
      caught = error;
    }
    expect(StoreRefusedError.isInstance(caught) && caught.reason).toBe("fenced");
    const store = new MemoryRunStore();
    const refusal = await store.appendFrames("no-such-run", 1, []).catch((error: unknown) => error);
    expect(StoreRefusedError.isInstance(refusal) && refusal.reason).toBe("unknown-run");
  });

  it("recognizes errors of another copy of the package: a separately defined class with the same Symbol.for markers", () => {
    class OtherCopyStoreRefusedError extends Error {
      readonly code = "STORE_REFUSED";
      readonly reason = "over";
      constructor() {
        super("from another copy");
        for (const symbol of [Symbol.for("durastream.error"), markerOf("DurableError"), markerOf("StoreRefusedError")]) {
          Object.defineProperty(this, symbol, { value: true });
        }
      }
    }
    const foreign = new OtherCopyStoreRefusedError();
    expect(foreign instanceof StoreRefusedError).toBe(false);
    expect(StoreRefusedError.isInstance(foreign)).toBe(true);
    expect(DurableError.isInstance(foreign)).toBe(true);
    expect(DurastreamError.isInstance(foreign)).toBe(true);
    expect(StepFailedError.isInstance(foreign)).toBe(false);
    // The markers are non-enumerable: a spread copy is no error of ours.
    expect(StoreRefusedError.isInstance({ ...new StoreRefusedError("over", "r1") })).toBe(false);
  });

  it("reports a run id already in the store as RUN_EXISTS, not INVALID_OPTIONS", async () => {
    const store = new MemoryRunStore();
    const run: NewRun = {
      runId: "r1",
      endpointId: "chat",
      createdAt: 0,
      owner: "owner-1",
      leaseExpiresAt: 60_000,
      request: { method: "POST", url: "https://app.example/api/chat", headers: [], body: null, bodyEncoding: "text" },
    };
    await store.createRun(run);
    const error = await store.createRun(run).catch((caught: unknown) => caught);
    expect(DurableError.isInstance(error) && error.code).toBe("RUN_EXISTS");
    expect(InvalidOptionsError.isInstance(error)).toBe(false);
  });
});

describe("option validation", () => {
  it("throws InvalidOptionsError (code INVALID_OPTIONS, not a DurableError) for bad options", () => {
    const bad: Array<() => unknown> = [
      () => createDurable({ basePath: "api" }),
      () => createDurable({ stepTimeout: "soon" } as never),
      () => createDurable().endpoint(42 as never),
      () => new MemoryRunStore({ retention: -1 }),
    ];
    for (const make of bad) {
      let thrown: unknown;
      try {
        make();
      } catch (error) {
        thrown = error;
      }
      expect(InvalidOptionsError.isInstance(thrown)).toBe(true);
      expect(thrown).toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS" });
      expect(DurableError.isInstance(thrown)).toBe(false);
    }
  });
});
