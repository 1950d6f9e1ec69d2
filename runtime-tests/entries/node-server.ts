// Node (20, 22, 24): the scenario on `@durastream/server/node`.
import { createEndpointServer } from "@durastream/server/node";
import { createScenarioApp } from "../scenario/app.js";

const app = createScenarioApp(`node ${process.version}`);
const server = createEndpointServer(app.fetch);
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === "object" && address !== null ? address.port : null }));
});
