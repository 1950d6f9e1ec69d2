// The exports of `cloudflare:workers` the scenario worker uses (workerd provides the module).
declare module "cloudflare:workers" {
  export const env: unknown;
  export function waitUntil(promise: Promise<unknown>): void;
}
