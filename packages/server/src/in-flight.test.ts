import { describe, expect, it } from "vitest";
import { InFlight } from "./in-flight.js";

describe("InFlight", () => {
  it("counts what entered until it is released, once per enter however often released", () => {
    const inFlight = new InFlight();
    const first = inFlight.enter();
    const second = inFlight.enter();
    expect(inFlight.count).toBe(2);
    first();
    first();
    expect(inFlight.count).toBe(1);
    second();
    expect(inFlight.count).toBe(0);
  });

  it("whenIdle resolves at once when idle, else when the last one is released or waiting stops", async () => {
    const inFlight = new InFlight();
    await inFlight.whenIdle();
    const release = inFlight.enter();
    let idle = false;
    const waiting = inFlight.whenIdle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    release();
    await waiting;
    expect(idle).toBe(true);

    inFlight.enter();
    const abandoned = inFlight.whenIdle();
    inFlight.stopWaiting();
    await abandoned;
    expect(inFlight.count).toBe(1);
  });
});
