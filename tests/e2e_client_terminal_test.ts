import { equal, ok } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import { connectChat, LOOPBACK } from "./helpers.ts";
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
      (rows) => rows.includes("* you are now known as ann"),
    );
    await bob.nextMatching(/known as ann/);

    await pane.type("half a li");
    await pane.waitForScreen("the half line", (rows) => rows.at(-1) === "> half a li");
    await bob.send("hello from bob");
    const rows = await pane.waitForScreen(
      "bob's line above the input",
      (rows) => rows.at(-2) === `<${bob.nick}> hello from bob` && rows.at(-1) === "> half a li",
    );
    ok(rows.includes("* you are now known as ann"));
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
