import { InvalidOptionsError } from "@durastream/protocol";

// A body parser that ran before the endpoint (express.json(), Fastify's content-type parsers,
// Hono's c.req.json()) leaves a request whose body is gone. A durable endpoint reads the body
// itself and stores it with the run, so it answers such a request with what to change.

/** For a Web `Request` with `bodyUsed`. */
const WEB_MESSAGE =
  "The request body was already read (request.bodyUsed is true) before durable.endpoint() got the request: a durable endpoint reads the body itself and stores it with the run. Pass the request unread: in Hono, call the endpoint with c.req.raw and do not call c.req.json(), c.req.text() or c.req.parseBody() before it; elsewhere, read a clone (request.clone()) if you need the body too.";

/** For a Node request whose stream a body parser consumed (see node/to-web-request.ts). */
const NODE_MESSAGE =
  'The request body was already read by a body parser that ran before the endpoint (express.json(), express.urlencoded(), Fastify\'s content-type parsers, …): a durable endpoint reads the body itself and stores it with the run. Leave the body unread on this route: in Express, register the route before app.use(express.json()) or without the parser; in Fastify, register it in a plugin that calls fastify.removeAllContentTypeParsers() and fastify.addContentTypeParser("*", (request, payload, done) => done(null)).';

/** The error the body of a Node request already consumed by a body parser fails with. */
export function nodeBodyAlreadyReadError(): InvalidOptionsError {
  return new InvalidOptionsError(NODE_MESSAGE);
}

/** The answer of `durable.endpoint` to a request whose body was read before it: a `500`. */
export function bodyAlreadyReadResponse(error: InvalidOptionsError = new InvalidOptionsError(WEB_MESSAGE)): Response {
  return new Response(error.message, {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8", "x-durastream-error": "BODY_ALREADY_READ" },
  });
}

/** Whether an error from reading a request body is {@link nodeBodyAlreadyReadError}'s. */
export function isBodyAlreadyRead(error: unknown): error is InvalidOptionsError {
  return InvalidOptionsError.isInstance(error) && error.message === NODE_MESSAGE;
}
