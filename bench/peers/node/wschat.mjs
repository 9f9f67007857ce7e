// WebSocket + TCP chat peer: Node's net module and npm `ws` at /ws on one
// HTTP server, one room; each line goes to every other client (TCP: the line
// and a newline; WebSocket: one text message per line).
import http from "node:http";
import net from "node:net";
import { WebSocketServer } from "./ws.mjs";

const clients = new Set();
const broadcast = (from, line) => {
  for (const other of clients) if (other !== from) other.send(line);
};

const tcp = net.createServer((socket) => {
  socket.setNoDelay(true);
  const me = { send: (line) => socket.write(`${line}\n`) };
  clients.add(me);
  const who = `${socket.remoteAddress}:${socket.remotePort}`;
  let pending = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk) => {
    pending += chunk;
    let end;
    while ((end = pending.indexOf("\n")) !== -1) {
      broadcast(me, `<${who}> ${pending.slice(0, end)}`);
      pending = pending.slice(end + 1);
    }
  });
  const leave = () => clients.delete(me);
  socket.on("close", leave);
  socket.on("error", leave);
});

const web = http.createServer();
const wss = new WebSocketServer({ server: web, path: "/ws" });
wss.on("connection", (ws, request) => {
  const me = { send: (line) => ws.send(line) };
  clients.add(me);
  const who = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
  ws.on("message", (data) => {
    for (const line of data.toString().split("\n")) if (line) broadcast(me, `<${who}> ${line}`);
  });
  const leave = () => clients.delete(me);
  ws.on("close", leave);
  ws.on("error", leave);
});

const listening = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
await Promise.all([listening(tcp), listening(web)]);
console.log(
  `listening on tcp=127.0.0.1:${tcp.address().port} http=127.0.0.1:${web.address().port}`,
);
