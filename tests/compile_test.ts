import { equal, match } from "node:assert/strict";
import { compileRuntime, PROGRAMS } from "../scripts/compile.ts";
import { within } from "./helpers.ts";
import { ChildLines, readAll, rootPath } from "./process_helpers.ts";

const runtime = await compileRuntime();

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
  },
});
