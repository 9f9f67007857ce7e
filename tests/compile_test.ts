import { deepEqual, equal, match, ok } from "node:assert/strict";
import { PROGRAMS, runtimeArchive } from "../scripts/compile.ts";
import { programTask } from "../scripts/tasks.ts";
import { within } from "./helpers.ts";
import { ChildLines, readAll, rootPath } from "./process_helpers.ts";

/**
 * The build test needs the runtime: DENORT_BIN, or PARLEY_COMPILE=1 where
 * `deno compile` can download it (a switch of this test only).
 */
const denortBin = Deno.env.get("DENORT_BIN");
const runtime = denortBin
  ? { available: true, reason: `DENORT_BIN=${denortBin}` }
  : Deno.env.get("PARLEY_COMPILE") === "1"
  ? { available: true, reason: "PARLEY_COMPILE=1" }
  : { available: false, reason: "no DENORT_BIN (or PARLEY_COMPILE=1 where it downloads)" };

Deno.test({
  name: `deno task compile builds parley-server, which serves chat${
    runtime.available ? "" : ` (ignored: ${runtime.reason})`
  }`,
  ignore: !runtime.available,
  async fn() {
    const build = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", rootPath("scripts/compile.ts"), "parley-server"],
      stdout: "piped",
      stderr: "piped",
    });
    const built = await build.output();
    equal(built.code, 0, new TextDecoder().decode(built.stderr));
    const binary = rootPath("dist/parley-server");
    const version = await new Deno.Command(binary, { args: ["--version"] }).output();
    equal(new TextDecoder().decode(version.stdout), "0.1.0\n");
    const child = new Deno.Command(binary, {
      args: ["--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--quiet"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new ChildLines(child.stdout);
    const first = await stdout.next();
    match(
      first ?? "",
      /^parley chat server listening on tcp=127\.0\.0\.1:\d+ http=127\.0\.0\.1:\d+$/,
    );
    const [port, httpPort] = [...first!.matchAll(/:(\d+)/g)].map((found) => Number(found[1]));
    // The page is embedded (--include web).
    const page = await fetch(`http://127.0.0.1:${httpPort}/`, { headers: { accept: "text/html" } });
    equal(page.status, 200);
    match(await page.text(), /<html/i);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const welcome = new Uint8Array(256);
    const n = await conn.read(welcome);
    match(new TextDecoder().decode(welcome.subarray(0, n ?? 0)), /^\* welcome to parley/);
    conn.close();
    child.kill("SIGTERM");
    equal((await within(child.status, "the binary to exit")).code, 0);
    await stdout.rest();
    await readAll(child.stderr);
  },
});

Deno.test({
  name: "scripts/compile.ts bakes in only the permissions each program needs",
  permissions: "none",
  fn() {
    equal(PROGRAMS["parley-server"].entry, "server.ts");
    equal(PROGRAMS["parley-server"].permissions.includes("--allow-all"), false);
    // One source: the deno.json tasks.
    deepEqual(PROGRAMS["parley-server"].permissions, programTask("server").flags);
    deepEqual(PROGRAMS["parley-client"].permissions, programTask("client").flags);
    deepEqual(PROGRAMS["parley-udp-echo"].permissions, [
      ...new Set([...programTask("udp-echo").flags, ...programTask("udp-send").flags]),
    ]);
  },
});

/** Whether Deno's cache already holds the runtime (then nothing is missing to test). */
async function runtimeCached(): Promise<boolean> {
  const { version, file } = runtimeArchive();
  const dir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  try {
    await Deno.stat(`${dir}/dl/release/v${version}/${file}`);
    return true;
  } catch {
    return false;
  }
}

const cached = await runtimeCached();

Deno.test({
  name: `deno task compile without a runtime answers in one paragraph, naming the denort to fetch${
    cached ? " (ignored: the runtime is in Deno's cache)" : ""
  }`,
  ignore: cached,
  async fn() {
    const env = Deno.env.toObject();
    delete env.DENORT_BIN;
    // Downloads go through a proxy that is not there: as offline, but at once.
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = `http://127.0.0.1:${closed.addr.port}`;
    closed.close();
    for (const extra of [{}, { DENORT_BIN: "/nonexistent/denort" }] as Record<string, string>[]) {
      const run = await within(
        new Deno.Command(Deno.execPath(), {
          args: ["task", "compile"],
          cwd: rootPath(""),
          clearEnv: true,
          env: { ...env, NO_COLOR: "1", HTTPS_PROXY: proxy, https_proxy: proxy, ...extra },
          stdout: "piped",
          stderr: "piped",
        }).output(),
        "deno task compile to give up",
      );
      equal(run.code, 1);
      const lines = new TextDecoder().decode(run.stderr).split("\n")
        .filter((line) => line !== "" && !line.startsWith("Task "));
      equal(lines.length, 1, lines.join("\n"));
      const [paragraph] = lines;
      match(paragraph, /^compile: /);
      match(paragraph, /exactly the version running this task \(2\.9\.6\)/);
      match(paragraph, /denort-x86_64-unknown-linux-gnu\.zip/);
      match(paragraph, /https:\/\/dl\.deno\.land\/release\/v2\.9\.6\//);
      match(paragraph, /DENORT_BIN=\/path\/to\/denort deno task compile/);
      ok(!/PARLEY_COMPILE|backtrace/i.test(paragraph), paragraph);
    }
  },
});
