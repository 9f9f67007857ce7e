import { deepEqual, equal, match, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { STORE_FILE } from "../lib/store/node_store.ts";
import { connectChat, type LineClient, syncWho, WAIT_MS } from "./helpers.ts";
import { serverArgs, spawnServer } from "./service_helpers.ts";

/** Rows of the history table, read through a separate connection (as a second process would). */
function storedTexts(dataDir: string): string[] {
  const db = new DatabaseSync(join(dataDir, STORE_FILE), { readOnly: true });
  try {
    return (db.prepare("SELECT text FROM history ORDER BY id").all() as { text: string }[])
      .map((row) => row.text);
  } catch {
    return []; // not made yet
  } finally {
    db.close();
  }
}

/** Waits (bounded, on the file's state) until `done(rows)` holds. */
async function untilStored(dataDir: string, done: (texts: string[]) => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!done(storedTexts(dataDir))) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the store to be written");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function historyOf(client: LineClient): Promise<string[]> {
  return (await syncWho(client)).before
    .filter((line) => line.startsWith("* history: "))
    .map((line) => line.replace(/^\* history: <[^>]+> /, ""));
}

Deno.test("server.ts killed with SIGKILL under chat load restarts with its older history intact", async () => {
  const dataDir = Deno.makeTempDirSync();
  try {
    const args = serverArgs(dataDir, ["--history", "100", "--rate", "0"]);
    let lastSeen = "";
    {
      await using server = await spawnServer(Deno.execPath(), args);
      await using alice = await connectChat(server.tcp);
      const old = Array.from({ length: 30 }, (_, i) => `old ${i}`);
      for (const text of old) await alice.send(text);
      await syncWho(alice);
      await untilStored(dataDir, (texts) => texts.length === old.length);
      // Load in another room: a sender and a watcher.
      await using loader = await connectChat(server.tcp);
      await using watcher = await connectChat(server.tcp);
      for (const client of [loader, watcher]) {
        await client.send("/join busy");
        await client.nextMatching(/busy/);
      }
      await syncWho(watcher);
      let sent = 0;
      let loading = true;
      const load = (async () => {
        while (loading) {
          const batch = Array.from({ length: 20 }, () => `load ${++sent} ${Date.now()}`);
          await loader.send(batch.join("\n")).catch(() => (loading = false));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      // Kill once the load is being written, in the middle of it.
      await untilStored(
        dataDir,
        (texts) => texts.some((text) => Number(/^load (\d+) /.exec(text)?.[1]) >= 200),
      );
      lastSeen = await watcher.nextMatching(/^<[^>]+> load ([3-9]\d\d|\d{4,}) /);
      server.child.kill("SIGKILL");
      await server.child.status;
      loading = false;
      await load;
      // The last load line relayed before the kill (the watcher read it, so the hub had it).
      for (;;) {
        const line = await watcher.nextLine().catch(() => null);
        if (line === null) break;
        if (/ load \d+ /.test(line)) lastSeen = line;
      }
    }
    // The file opens and is consistent.
    const db = new DatabaseSync(join(dataDir, STORE_FILE));
    equal(
      (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
        .integrity_check,
      "ok",
    );
    db.close();
    await using server = await spawnServer(Deno.execPath(), args);
    await using bob = await connectChat(server.tcp);
    deepEqual(await historyOf(bob), Array.from({ length: 30 }, (_, i) => `old ${i}`));
    await bob.send("/join busy");
    await bob.nextMatching(/busy/);
    const busy = await historyOf(bob);
    ok(busy.length > 0, "no load line survived");
    const numbers = busy.map((text) => Number(/^load (\d+) /.exec(text)![1]));
    // The newest lines that survived are contiguous: only a tail was lost.
    deepEqual(numbers, numbers.map((_, i) => numbers[0] + i));
    const lastKept = busy.at(-1)!.split(" ");
    const seen = lastSeen.replace(/^<[^>]+> /, "").split(" ");
    const lostLines = Number(seen[1]) - Number(lastKept[1]);
    const lostMs = Number(seen[2]) - Number(lastKept[2]);
    console.log(`kill -9 under load: ${lostLines} relayed lines (${lostMs} ms) not on disk`);
    ok(lostLines >= 0);
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});

/** Why the read-only test cannot run here, or null. */
const noReadOnlyMount: string | null = await new Deno.Command("unshare", {
  args: ["-r", "-m", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp"],
  stdout: "null",
  stderr: "null",
}).output().then(
  (result) => result.success ? null : "unshare cannot make a read-only bind mount here",
  () => "unshare is not installed",
);

Deno.test({
  name: "server.ts on a read-only data directory logs one line and chats from memory",
  ignore: noReadOnlyMount !== null,
  async fn() {
    const dataDir = Deno.makeTempDirSync();
    try {
      // A real read-only file system: the data directory bind-mounted read-only in a mount namespace.
      const script =
        `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`;
      await using server = await spawnServer("unshare", [
        "-r",
        "-m",
        "sh",
        "-c",
        script,
        "sh",
        dataDir,
        Deno.execPath(),
        ...serverArgs(dataDir),
      ]);
      await using alice = await connectChat(server.tcp);
      await alice.send("kept in memory");
      await syncWho(alice);
      await using bob = await connectChat(server.tcp);
      deepEqual(await historyOf(bob), ["kept in memory"]);
      const status = await server.stop();
      equal(status.code, 0);
      const warnings = (await server.stderr).split("\n").filter((line) => line.includes("store:"));
      equal(warnings.length, 1, await server.stderr);
      match(
        warnings[0],
        /store: cannot open .*parley\.db \(.*\); running from memory only: history is lost at the next restart/,
      );
    } finally {
      Deno.removeSync(dataDir, { recursive: true });
    }
  },
});

if (noReadOnlyMount !== null) {
  console.log(`read-only data directory test ignored: ${noReadOnlyMount}`);
}
