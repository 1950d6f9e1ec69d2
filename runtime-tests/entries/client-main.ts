// The client scenario as a program: `<runtime> client.mjs <origin>` prints its report as JSON.
import { runClientScenario } from "../scenario/client.js";

declare const Deno: { readonly args: string[] } | undefined;

const args = typeof Deno === "undefined" ? process.argv.slice(2) : Deno.args;
const base = args[0];
if (base === undefined) throw new Error("usage: client.mjs <origin of the scenario server>");
console.log(JSON.stringify(await runClientScenario(base)));
