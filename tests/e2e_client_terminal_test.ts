import { deepEqual, equal, ok } from "node:assert/strict";
import { WebSocketServer } from "ws";
import { connectTcp, runTerminalSession } from "../lib/client/sessions.ts";
import { isQuitCommand, type TerminalIo } from "../lib/client/terminal_chat.ts";
import { connectWebSocket } from "../lib/client/websocket.ts";
import { runWebSocketTerminalSession } from "../lib/client/ws_sessions.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { connectChat, LOOPBACK, utf8, within } from "./helpers.ts";
import { rootPath } from "./process_helpers.ts";

const hasTmux = await new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((out) => out.success, () => false);

/** A tmux server of our own (its own socket), with one 80×24 pane running `command`. */
class TmuxPane implements AsyncDisposable {
  readonly #socket = `parley-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;

  async start(command: string[]): Promise<void> {
    const config = await Deno.makeTempFile({ suffix: ".conf" });
    await Deno.writeTextFile(config, "set -g status off\n");
    await this.tmux(
      "-f",
      config,
      "new-session",
      "-d",
      "-s",
      "t",
      "-x",
      "80",
      "-y",
      "24",
      ...command,
    );
    await Deno.remove(config);
  }

  async tmux(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", { args: ["-L", this.#socket, ...args] }).output();
    if (!out.success) {
      throw new Error(`tmux ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout);
  }

  /** The screen's rows, trailing blank rows dropped. */
  async screen(): Promise<string[]> {
    const rows = (await this.tmux("capture-pane", "-p", "-t", "t")).split("\n");
    while (rows.length > 0 && rows.at(-1)!.trim() === "") rows.pop();
    return rows;
  }

  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", "t", "-l", text);
  }

  async key(name: string): Promise<void> {
    await this.tmux("send-keys", "-t", "t", name);
  }

  /** `#{…}` formats of the pane, e.g. cursor_x. */
  async format(format: string): Promise<string> {
    return (await this.tmux("display-message", "-p", "-t", "t", format)).trim();
  }

  /** Polls the screen until `check` holds (bounded); returns the screen then. */
  async waitForScreen(
    what: string,
    check: (rows: string[]) => boolean,
    ms = 10_000,
  ): Promise<string[]> {
    const deadline = performance.now() + ms;
    let rows: string[] = [];
    while (performance.now() < deadline) {
      rows = await this.screen();
      if (check(rows)) return rows;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`timed out waiting for ${what}; screen:\n${rows.join("\n")}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tmux("kill-server").catch(() => {});
  }
}

Deno.test({
  name: `client.ts in a terminal prints incoming lines above a half-typed line and keeps it intact${
    hasTmux ? "" : " (ignored: tmux is not installed)"
  }`,
  ignore: !hasTmux,
  async fn() {
    await using server = serveChat(LOOPBACK);
    await using bob = await connectChat(server.addr);
    await using pane = new TmuxPane();
    const client = [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-net",
      "--allow-env",
      rootPath("client.ts"),
      `127.0.0.1:${server.addr.port}`,
      "--nick",
      "ann",
    ].map((word) => `'${word}'`).join(" ");
    // The shell prints the client's exit code when it ends.
    await pane.start(["sh", "-c", `NO_COLOR=1 ${client}; echo "[exit $?]"; sleep 60`]);
    await pane.waitForScreen(
      "the nick to be set",
      (rows) => rows.includes("* welcome to parley, ann"), // --nick: named as it joins
    );
    await bob.nextMatching(/^\* ann joined/);

    await pane.type("half a li");
    await pane.waitForScreen("the half line", (rows) => rows.at(-1) === "> half a li");
    await bob.send("hello from bob");
    const rows = await pane.waitForScreen(
      "bob's line above the input",
      (rows) => rows.at(-2) === `<${bob.nick}> hello from bob` && rows.at(-1) === "> half a li",
    );
    ok(rows.includes("* welcome to parley, ann"));
    equal(await pane.format("#{cursor_x}"), String("> half a li".length));

    await pane.type("ne");
    await pane.key("Enter");
    equal(await bob.nextMatching(/^</), "<ann> half a line");
    await pane.waitForScreen(
      "the local copy",
      (rows) => rows.at(-2) === "<ann> half a line" && rows.at(-1) === ">",
    );

    // Wide characters: the cursor lands after them when a line arrives.
    await pane.type("你好 world");
    await pane.key("Left");
    await bob.send("/me waves");
    await pane.waitForScreen(
      "the action above the wide input",
      (rows) => rows.at(-2) === `<${bob.nick}> *waves*` && rows.at(-1) === "> 你好 world",
    );
    equal(await pane.format("#{cursor_x}"), String(2 + 4 + 1 + 4));

    // Ctrl-C leaves cleanly: /quit is sent, the room hears it, exit code 0.
    await pane.key("C-c");
    equal(await bob.nextMatching(/left/), "* ann left (quit)");
    const last = await pane.waitForScreen(
      "the client to exit",
      (rows) => rows.some((row) => row.startsWith("[exit ")),
    );
    equal(last.at(-1), "[exit 0]");
    equal(last.at(-2), "* bye");
  },
});

/**
 * A terminal for in-process sessions: keys are queued by the test, a read
 * can be made to fail, and the screen is kept as plain text (escape
 * sequences dropped, rows ended by CRLF).
 */
class FakeTerminal implements TerminalIo {
  readonly errors: string[] = [];
  #screen = "";
  readonly #input: (Uint8Array | Error)[] = [];
  #wakeReader: (() => void) | null = null;
  #wakeScreen: (() => void) | null = null;

  readonly stdin = {
    read: async (buffer: Uint8Array): Promise<number | null> => {
      while (this.#input.length === 0) {
        await new Promise<void>((resolve) => (this.#wakeReader = resolve));
      }
      const next = this.#input.shift()!;
      if (next instanceof Error) throw next;
      buffer.set(next);
      return next.length;
    },
  };
  readonly stdout = { write: (bytes: Uint8Array) => Promise.resolve(bytes.length) };
  readonly reportError = (message: string) => void this.errors.push(message);
  readonly columns = () => 80;
  readonly draw = (text: string) => {
    // deno-lint-ignore no-control-regex
    this.#screen += text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    this.#wakeScreen?.();
  };

  /** Queues keystrokes (`\r` is Enter, `\x03` Ctrl-C). */
  type(keys: string): void {
    this.#input.push(utf8(keys));
    this.#wakeReader?.();
  }

  /** Makes the next read fail with `error`. */
  failRead(error: Error): void {
    this.#input.push(error);
    this.#wakeReader?.();
  }

  /** The rows printed above the input so far. */
  get printed(): string[] {
    return this.#screen.split("\r\n").slice(0, -1).map((row) => row.replace(/^.*\r/s, ""));
  }

  /** Waits until a row equal to `row` has been printed. */
  async waitForRow(row: string): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (!this.printed.includes(row)) {
      const left = deadline - performance.now();
      const drawn = new Promise<void>((resolve) => (this.#wakeScreen = resolve));
      await within(
        drawn,
        `the row ${JSON.stringify(row)} in ${JSON.stringify(this.printed)}`,
        left,
      );
    }
  }
}

/** A TCP peer that reads everything it is sent and never closes first. */
function silentPeer() {
  const listener = Deno.listen(LOOPBACK);
  const received = (async () => {
    const conn = await listener.accept();
    listener.close();
    const chunks: number[] = [];
    const buffer = new Uint8Array(4096);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      chunks.push(...buffer.subarray(0, n));
    }
    conn.close();
    return new TextDecoder().decode(new Uint8Array(chunks));
  })();
  return { port: listener.addr.port, received };
}

Deno.test("runTerminalSession() leaves after a typed /quit even if the server never closes", async () => {
  const peer = silentPeer();
  const conn = await connectTcp({ hostname: "127.0.0.1", port: peer.port });
  const terminal = new FakeTerminal();
  const session = runTerminalSession(conn, terminal, { colour: false, quitWaitMs: 100 });
  terminal.type("/quit see you\r");
  equal(await within(session, "the session to end after /quit"), 0);
  equal(await within(peer.received, "the peer to see the close"), "/quit see you\n");
  deepEqual(terminal.errors, []);
});

Deno.test({
  name: "isQuitCommand() reads a line as the server does",
  permissions: "none",
  fn() {
    // The control character is removed before the server reads the command.
    for (const text of ["/quit", "/QUIT see you", "/quit\tnow", "/qu\x07it"]) {
      equal(isQuitCommand(text), true, JSON.stringify(text));
    }
    // Said to the room (" /quit", "//quit"), or unknown commands to the server.
    for (const text of [" /quit", "//quit", "/quitter", "/quit\u00a0now", "quit"]) {
      equal(isQuitCommand(text), false, JSON.stringify(text));
    }
  },
});

Deno.test("runTerminalSession() ends with exit code 1 and one line when reading stdin fails", async () => {
  const peer = silentPeer();
  const conn = await connectTcp({ hostname: "127.0.0.1", port: peer.port });
  const terminal = new FakeTerminal();
  const session = runTerminalSession(conn, terminal, { colour: false });
  terminal.type("half");
  terminal.failRead(new Error("the keyboard is gone"));
  equal(await within(session, "the session to end"), 1);
  deepEqual(terminal.errors, ["cannot read input: the keyboard is gone"]);
  equal(await within(peer.received, "the peer to see the close"), "");
});

Deno.test("runWebSocketTerminalSession() shows lines, binary messages and the close", async () => {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  server.on("connection", (socket) => {
    socket.send("line one\nline two"); // several lines in one message, as Parley sends them
    socket.send(utf8("abc"), { binary: true });
    socket.once("message", (data) => {
      socket.send(`got ${data}`);
      socket.close(1000);
    });
  });
  const { port } = server.address() as { port: number };
  const terminal = new FakeTerminal();
  const session = runWebSocketTerminalSession(
    (events) => connectWebSocket(`ws://127.0.0.1:${port}/`, events),
    terminal,
    { colour: false },
  );
  await terminal.waitForRow("[binary 3 bytes] 61 62 63");
  terminal.type("hello\r");
  equal(await within(session, "the session to end"), 0);
  deepEqual(terminal.printed, [
    "line one",
    "line two",
    "[binary 3 bytes] 61 62 63",
    "<you> hello",
    "got hello",
    "* closed: 1000 normal",
  ]);
  deepEqual(terminal.errors, []);
  await new Promise((resolve) => server.close(resolve));
});

Deno.test("runWebSocketTerminalSession() sends /quit on Ctrl-C and exits 0 once the chat closes", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0 });
  await server.ready;
  await using bob = await connectChat(server.addr);
  const terminal = new FakeTerminal();
  const session = runWebSocketTerminalSession(
    (events) => connectWebSocket(`ws://127.0.0.1:${server.httpAddr!.port}/ws`, events),
    terminal,
    { colour: false, nick: "ann" },
  );
  await terminal.waitForRow("* you are now known as ann");
  terminal.type("hi bob\r");
  equal(await bob.nextMatching(/^<ann>/), "<ann> hi bob");
  terminal.type("\x03");
  equal(await within(session, "the session to end"), 0);
  equal(await bob.nextMatching(/left/), "* ann left (quit)");
  deepEqual(terminal.printed.slice(-3), ["<ann> hi bob", "* bye", "* closed: 1000 quit"]);
});
