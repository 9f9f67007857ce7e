// Loads npm `ws` for the WebSocket peers from where `deno task bench` installs
// it (bench/target/node-peer; not a dependency of the repository).
import { createRequire } from "node:module";

const require = createRequire(new URL("../../target/node-peer/package.json", import.meta.url));
export const { WebSocketServer } = require("ws");
