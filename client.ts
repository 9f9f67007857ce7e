/**
 * `client.ts`: Parley's chat client. In a terminal, a full-duplex line
 * editor; in a pipe, `nc -N`-like. Given a `ws://` URL it speaks WebSocket
 * (in a pipe, like wscat); `tls://` (or `--tls`) and `wss://` are the same
 * over TLS. Flags: `--help` and the README.
 *
 * The program lives in `lib/cli/client_main.ts`.
 *
 * @module
 */

import { runClient } from "./lib/cli/client_main.ts";

if (import.meta.main) Deno.exit(await runClient(Deno.args));
