// A durable endpoint on the SQLite store, run as a child process by crash-recovery.test.ts.
// Usage: node --conditions=@durastream/source --import tsx src/crash-server.fixture.ts <db file> <port>
// With HANG_IN_STEP=1 it hangs inside step "middle" after streaming, to be killed there.
// Prints "listening <port>" and one line per step execution on stdout.
import type { AddressInfo } from "node:net";
import { createDurable, step, stream } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { SqliteRunStore } from "./sqlite-store.js";

const [path, port = "0"] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);

const durable = createDurable({
  store: new SqliteRunStore({ path: path! }),
  backoff: () => 0,
  secret: "crash-recovery-test-secret",
});
const endpoint = durable.endpoint(
  async () => {
    const intro = await step.run("intro", () => {
      say("executing intro");
      return stream.pipe(async function* () {
        yield "Once ";
        yield "upon ";
      });
    });
    const middle = await step.run("middle", async ({ attempt }) => {
      say(`executing middle attempt ${attempt}`);
      stream.push("a ");
      stream.push("time");
      if (process.env.HANG_IN_STEP === "1") {
        say("hanging in middle");
        await new Promise(() => {});
      }
      return "a time";
    });
    const end = await step.run("end", () => {
      say("executing end");
      stream.push(", the end.");
      return "the end";
    });
    return Response.json({ intro, middle, end }, { status: 201, headers: { "x-story": "told" } });
  },
  { id: "story" },
);
const waitEndpoint = durable.waitEndpoint();
const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
server.listen(Number(port), "127.0.0.1", () => say(`listening ${(server.address() as AddressInfo).port}`));
