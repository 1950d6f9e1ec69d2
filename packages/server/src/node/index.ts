export { createEndpointServer } from "./create-endpoint-server.js";
export { serveEndpoint, type ServeEndpointOptions } from "./serve-endpoint.js";
