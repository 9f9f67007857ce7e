// WebSocket echo peer: npm `ws`, every message sent back with its type (text
// or binary), on any path.
import http from "node:http";
import { WebSocketServer } from "./ws.mjs";

const web = http.createServer();
const wss = new WebSocketServer({ server: web });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
web.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening on http=127.0.0.1:${web.address().port}`);
});
