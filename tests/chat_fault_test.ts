/**
 * The hub's fault boundary over real sockets: a command that meets a
 * throwing directory ends only its member, over TCP and WebSocket alike;
 * the room hears `internal error` and nothing of the exception, and the
 * server keeps serving.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { LocalDirectory } from "../lib/chat/directory.ts";
import { nameKey } from "../lib/chat/names.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { connectChat, LOOPBACK, syncWho } from "./helpers.ts";
import { connectWsChat } from "./ws_helpers.ts";

/** `/who` in room `crash` throws at once; `/rooms` anywhere fails later. */
class ThrowingDirectory extends LocalDirectory {
  constructor() {
    super({ lines: 20, roomBytes: 64 * 1024, totalBytes: 1024 * 1024 });
  }
  override members(roomKey: string): string[] {
    if (roomKey === nameKey("crash")) throw new Error("members exploded");
    return super.members(roomKey);
  }
  override rooms(): never {
    return Promise.reject(new Error("rooms exploded")) as never;
  }
}

/** Every line of the log events, for checks that no exception text leaked. */
function errorEvents(log: LogEvent[]): LogEvent[] {
  return log.filter((event) => event.event === "error");
}

Deno.test({
  name: "serveChat() ends only the member whose command throws, over TCP and WebSocket",
  async fn() {
    const log: LogEvent[] = [];
    await using server = serveChat({
      ...LOOPBACK,
      httpPort: 0,
      rate: 0,
      maxPerIp: 0,
      directory: new ThrowingDirectory(),
      logger: (event) => log.push(event),
    });
    await server.ready;
    await using carol = await connectChat(server.addr); // TCP, stays in the lobby
    await using tcp = await connectChat(server.addr);
    await using ws = await connectWsChat(server.httpAddr!);
    await tcp.send("/join crash");
    await tcp.nextMatching(/you joined crash/);
    ws.send("/join crash");
    await ws.nextMatching(/you joined crash/);
    await tcp.nextMatching(/joined crash/);

    // Over TCP: told why, closed; the room hears "internal error" only.
    await tcp.send("/who");
    deepEqual(await tcp.untilClosed(), ["! internal error; closing the connection"]);
    equal(await ws.nextLine(), `* ${tcp.nick} left (internal error)`);

    // Over WebSocket (the hub is called from the socket's message listener).
    ws.send("/who");
    const closed = await ws.untilClosed();
    deepEqual(closed.lines, ["! internal error; closing the connection"]);
    equal(closed.reason, "internal error");

    // A command that fails later (a rejected answer) ends its member too.
    await using ws2 = await connectWsChat(server.httpAddr!);
    await carol.nextMatching(new RegExp(`${ws2.nick} joined lobby`));
    ws2.send("/rooms");
    deepEqual((await ws2.untilClosed()).lines, ["! internal error; closing the connection"]);
    equal(await carol.nextMatching(/left/), `* ${ws2.nick} left (internal error)`);

    // The server keeps serving: a newcomer and carol chat.
    await using dave = await connectWsChat(server.httpAddr!);
    await carol.nextMatching(new RegExp(`${dave.nick} joined lobby`));
    dave.send("still here");
    equal(await carol.nextMatching(/^</), `<${dave.nick}> still here`);
    equal((await syncWho(carol)).who, `* 2 in lobby: ${carol.nick}, ${dave.nick}`);
    equal(server.clientCount, 2);

    const errors = errorEvents(log);
    deepEqual(errors.map((event) => event.reason), [
      "internal error: members exploded",
      "internal error: members exploded",
      "internal error: rooms exploded",
    ]);
    for (const event of errors) match(String(event.stack), /\n\s+at /);
    const reasons = log.filter((event) => event.event === "disconnect")
      .map((event) => event.reason);
    deepEqual(reasons, ["internal error", "internal error", "internal error"]);
    ok(!JSON.stringify(log.filter((event) => event.event !== "error")).includes("exploded"));
  },
});
