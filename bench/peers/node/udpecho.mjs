// UDP echo peer: Node's dgram module.
import dgram from "node:dgram";

const socket = dgram.createSocket("udp4");
socket.on("message", (message, peer) => socket.send(message, peer.port, peer.address));
socket.bind(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${socket.address().port}`);
});
