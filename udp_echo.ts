/**
 * `udp_echo.ts`: `serve` runs a UDP echo server; `send` is its client
 * (replies with round-trip times, retries, a ping-like summary).
 *
 * The program lives in `lib/cli/udp_main.ts`.
 *
 * @module
 */

import { runUdpEcho } from "./lib/cli/udp_main.ts";

if (import.meta.main) Deno.exit(await runUdpEcho(Deno.args));
