import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { connectChat, syncWho } from "./helpers.ts";
import { rootPath } from "./process_helpers.ts";
import { serverArgs, spawnServer } from "./service_helpers.ts";

const UNIT = rootPath("docs/parley.service");

/** Why `systemd-analyze verify` cannot run here, or null. */
const noAnalyze: string | null = await new Deno.Command("systemd-analyze", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then(
  (result) => result.success ? null : "systemd-analyze fails",
  () => "systemd-analyze is not installed",
);

Deno.test({
  name: "docs/parley.service passes systemd-analyze verify with no complaint",
  ignore: noAnalyze !== null,
  async fn() {
    // The unit as shipped, its binary path pointed at a program that exists here.
    const dir = Deno.makeTempDirSync();
    try {
      const unit = Deno.readTextFileSync(UNIT);
      ok(unit.includes("ExecStart=/usr/local/bin/parley-server\n"));
      const copy = join(dir, "parley.service");
      Deno.writeTextFileSync(
        copy,
        unit.replace("ExecStart=/usr/local/bin/parley-server", "ExecStart=/bin/true"),
      );
      const result = await new Deno.Command("systemd-analyze", {
        args: ["verify", copy],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(result.stdout) +
        new TextDecoder().decode(result.stderr);
      equal(result.code, 0, said);
      equal(said.split("\n").filter((line) => line.includes("parley.service")).join("\n"), "");
      // An unknown directive would be reported: the check is not blind.
      Deno.writeTextFileSync(
        copy,
        unit.replace("ExecStart=/usr/local/bin/parley-server", "ExecStart=/bin/true") +
          "\n[Service]\nProtectBogus=yes\n",
      );
      const bad = await new Deno.Command("systemd-analyze", {
        args: ["verify", copy],
        stdout: "piped",
        stderr: "piped",
      }).output();
      match(new TextDecoder().decode(bad.stderr), /Unknown key 'ProtectBogus'/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

if (noAnalyze !== null) console.log(`systemd unit test ignored: ${noAnalyze}`);

Deno.test("docs/parley.service has the hardening and service settings the README promises", () => {
  const unit = Deno.readTextFileSync(UNIT);
  for (
    const line of [
      "DynamicUser=yes",
      "StateDirectory=parley",
      "Environment=PARLEY_DATA_DIR=%S/parley",
      "LimitNOFILE=65536",
      "Restart=on-failure",
      "ProtectSystem=strict",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "NoNewPrivileges=yes",
    ]
  ) ok(unit.split("\n").includes(line), line);
});

Deno.test("server.ts keeps serving through SIGHUP without TLS, saying there is nothing to reload", async () => {
  const dataDir = Deno.makeTempDirSync();
  try {
    await using server = await spawnServer(Deno.execPath(), serverArgs(dataDir));
    await using alice = await connectChat(server.tcp);
    server.child.kill("SIGHUP");
    await using bob = await connectChat(server.tcp);
    await bob.send("after the reload");
    equal(await alice.nextMatching(/after the reload/), `<${bob.nick}> after the reload`);
    await syncWho(alice);
    await alice.close();
    await bob.close();
    equal((await server.stop()).code, 0);
    match(await server.stderr, /warning reason="SIGHUP: nothing to reload \(no --tls-cert\)"/);
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
