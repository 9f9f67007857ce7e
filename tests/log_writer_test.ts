import { equal, match, ok } from "node:assert/strict";
import { LogWriter } from "../lib/net/log_writer.ts";
import { within } from "./helpers.ts";
import { killChild, rootPath } from "./process_helpers.ts";

Deno.test({
  name: "LogWriter never blocks: a stalled output drops lines, counts them, and says so later",
  permissions: "none",
  async fn() {
    const written: string[] = [];
    let release: () => void = () => {};
    let stalled = true;
    const output = {
      write(bytes: Uint8Array): Promise<number> {
        written.push(new TextDecoder().decode(bytes));
        if (!stalled) return Promise.resolve(bytes.length);
        return new Promise((resolve) => (release = () => resolve(bytes.length)));
      },
    };
    const writer = new LogWriter({ output, maxQueueBytes: 1000 });
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) writer.write(`line ${i} ${"x".repeat(40)}`);
    ok(performance.now() - started < 1000, "writing 10,000 lines returned at once");
    ok(writer.dropped > 9000, `${writer.dropped} dropped`);
    const dropped = writer.dropped;
    stalled = false;
    release();
    await writer.flush(1000);
    writer.write("after the stall");
    await writer.flush(1000);
    const text = written.join("");
    match(text, new RegExp(`warning dropped=${dropped} reason="log output was not being read`));
    ok(text.endsWith("after the stall\n"));
    equal(writer.dropped, 0);
  },
});

Deno.test("server.ts keeps serving while nobody reads its stderr", async () => {
  // stderr is a pipe nobody reads: the log lines fill it (64 KiB) in a few
  // hundred connections, and a blocking write would freeze the server.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", rootPath("server.ts"), "--host", "127.0.0.1", "--port", "0", "--no-http"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await within(reader.read(), "the listening line");
    const port = Number(/tcp=127\.0\.0\.1:(\d+)/.exec(value ?? "")![1]);
    const buffer = new Uint8Array(4096);
    for (let i = 0; i < 800; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const n = await within(conn.read(buffer), `the welcome of client ${i}`, 5000);
      ok(n !== null && new TextDecoder().decode(buffer.subarray(0, n)).includes("welcome"));
      conn.close();
    }
    child.kill("SIGTERM");
    const log = await new Response(child.stderr).text(); // read it only now
    await reader.cancel();
    equal((await child.status).code, 0);
    // The 1 MiB queue held what the pipe could not: nothing was lost.
    equal(log.match(/ connect peer=/g)?.length, 800);
  } finally {
    await killChild(child); // a failed assertion must not leave the server running
  }
});
