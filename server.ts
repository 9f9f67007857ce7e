/**
 * `server.ts`: Parley's chat server (TCP lines and WebSocket in the same
 * rooms), or with `--mode echo` a TCP and WebSocket echo server. Flags are
 * listed by `--help` and in the README.
 *
 * The program lives in `lib/cli/server_main.ts`.
 *
 * @module
 */

import { runServer } from "./lib/cli/server_main.ts";

if (import.meta.main) Deno.exit(await runServer(Deno.args));
