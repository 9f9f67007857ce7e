// Chat peer: Node's net module, each line written to every other socket.
import net from "node:net";

const clients = new Set();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  clients.add(socket);
  const who = `${socket.remoteAddress}:${socket.remotePort}`;
  let pending = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk) => {
    pending += chunk;
    let end;
    while ((end = pending.indexOf("\n")) !== -1) {
      const line = `<${who}> ${pending.slice(0, end)}\n`;
      pending = pending.slice(end + 1);
      for (const other of clients) if (other !== socket) other.write(line);
    }
  });
  const leave = () => clients.delete(socket);
  socket.on("close", leave);
  socket.on("error", leave);
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
