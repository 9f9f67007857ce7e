import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { LocalDirectory } from "../lib/chat/directory.ts";
import { HISTORY_ENTRY_OVERHEAD, historyCost } from "../lib/chat/history.ts";
import { type ChatServer, serveChat } from "../lib/server/serve_chat.ts";
import { MIGRATIONS, openDatabase, schemaVersion } from "../lib/store/database.ts";
import { HistoryJournal } from "../lib/store/history_journal.ts";
import { NodeStore, STORE_FILE } from "../lib/store/node_store.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { connectChat, LOOPBACK, syncWho } from "./helpers.ts";
import { connectWsChat, wsSyncWho } from "./ws_helpers.ts";

const line = (text: string, ts = 1) => ({ kind: "message" as const, from: "ann", text, ts });

function rows(path: string): { room: string; text: string }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT room, text FROM history ORDER BY id").all() as unknown as {
      room: string;
      text: string;
    }[];
  } finally {
    db.close();
  }
}

Deno.test("openDatabase() brings a new file to the last schema version and refuses a newer one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, STORE_FILE);
    const db = openDatabase(path);
    equal(schemaVersion(db), MIGRATIONS.at(-1)!.version);
    equal(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
      "wal",
    );
    db.exec("PRAGMA user_version = 99");
    db.close();
    throws(() => openDatabase(path), /schema version 99, newer than this server's/);
    // Migrations run in order, each once.
    const other = openDatabase(join(dir, "b.db"), [
      { version: 1, sql: "CREATE TABLE a (x)" },
      { version: 2, sql: "ALTER TABLE a ADD COLUMN y" },
    ]);
    equal(schemaVersion(other), 2);
    other.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("HistoryJournal keeps on disk what the in-memory history keeps, within its bounds", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, STORE_FILE);
  try {
    const limits = { lines: 3, roomBytes: 1 << 20, totalBytes: 1 << 20 };
    let db = openDatabase(path);
    let journal = new HistoryJournal(db, { flushIntervalMs: 60_000 });
    const directory = new LocalDirectory(limits, journal);
    directory.enter("local/1", "ann", "lobby", "Lobby", 20);
    directory.enter("local/2", "bob", "den", "Den", 20);
    for (let i = 1; i <= 5; i++) {
      for (const room of ["lobby", "den"]) {
        directory.publish(room, {
          event: { type: "message", room, from: "ann", text: `${room} ${i}` },
          ts: i,
          origin: null,
          echo: false,
        });
      }
    }
    equal(journal.stats.queuedOps > 0, true);
    deepEqual(rows(path), []); // nothing written before the flush
    journal.flush();
    equal(journal.stats.queuedOps, 0);
    deepEqual(rows(path).map((row) => row.text), [
      "lobby 3",
      "den 3",
      "lobby 4",
      "den 4",
      "lobby 5",
      "den 5",
    ]);
    journal.stop();
    db.close();
    // A restart with tighter bounds: memory and disk both keep the newest lines that fit.
    db = openDatabase(path);
    journal = new HistoryJournal(db, { flushIntervalMs: 60_000 });
    const cost = historyCost(line("lobby 5")) + HISTORY_ENTRY_OVERHEAD;
    const restored = new LocalDirectory({ ...limits, totalBytes: 3 * cost }, journal);
    const den = restored.enter("local/3", "cy", "den", "den", 20);
    const lobby = restored.enter("local/4", "di", "lobby", "lobby", 20);
    if (typeof den === "symbol" || typeof lobby === "symbol") throw new Error("link down");
    deepEqual(den.history.map((entry) => entry.text), ["den 4", "den 5"]);
    deepEqual(lobby.history.map((entry) => entry.text), ["lobby 5"]);
    equal(den.name, "Den");
    journal.flush();
    deepEqual(rows(path).map((row) => row.text), ["den 4", "lobby 5", "den 5"]);
    journal.stop();
    db.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("HistoryJournal writes at once when its queue reaches maxQueuedOps", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, STORE_FILE);
  const db = openDatabase(path);
  try {
    const journal = new HistoryJournal(db, {
      flushIntervalMs: 60_000,
      batchOps: 4,
      maxQueuedOps: 8,
    });
    const directory = new LocalDirectory(
      { lines: 100, roomBytes: 1 << 20, totalBytes: 1 << 20 },
      journal,
    );
    directory.enter("local/1", "ann", "lobby", "lobby", 20);
    for (let i = 1; i <= 8; i++) {
      directory.publish("lobby", {
        event: { type: "message", room: "lobby", from: "ann", text: `m${i}` },
        ts: i,
        origin: null,
        echo: false,
      });
    }
    equal(journal.stats.queuedOps, 0);
    equal(journal.stats.flushes, 1);
    equal(rows(path).length, 8);
    journal.stop();
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("HistoryJournal options are checked", () => {
  const db = new DatabaseSync(":memory:");
  openDatabase(":memory:").close();
  throws(() => new HistoryJournal(db, { flushIntervalMs: 0 }), RangeError);
  throws(() => new HistoryJournal(db, { batchOps: 10, maxQueuedOps: 5 }), RangeError);
  db.close();
});

/** Says two lines in the lobby, then restarts the server on the same data directory. */
async function restartWithHistory(
  dataDir: string,
  join: (server: ChatServer) => Promise<string[]>,
): Promise<string[]> {
  {
    await using server = serveChat({ ...LOOPBACK, httpPort: 0, dataDir });
    await using alice = await connectChat(server.addr);
    await alice.send("before the restart");
    await alice.send("/me waves");
    await syncWho(alice);
  }
  await using server = serveChat({ ...LOOPBACK, httpPort: 0, dataDir });
  await server.ready;
  return await join(server);
}

/** What a member joining after the restart gets: the two lines said before it, as history. */
async function replaysAfterRestart(
  join: (server: ChatServer) => Promise<string[]>,
): Promise<void> {
  const dataDir = Deno.makeTempDirSync();
  try {
    const before = await restartWithHistory(dataDir, join);
    const history = before.filter((text) => text.startsWith("* history:"));
    equal(history.length, 2);
    match(history[0], /^\* history: <guest-\d+> before the restart$/);
    match(history[1], /^\* history: <guest-\d+> \*waves\*$/);
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
}

Deno.test("serveChat() with a data directory replays history after a restart over TCP", async () => {
  await replaysAfterRestart(async (server) => {
    await using bob = await connectChat(server.addr);
    return (await syncWho(bob)).before;
  });
});

Deno.test("serveChat() with a data directory replays history after a restart over WebSocket", async () => {
  await replaysAfterRestart(async (server) => {
    await using bob = await connectWsChat(server.httpAddr!);
    return (await wsSyncWho(bob)).before;
  });
});

Deno.test("serveChat() keeps a room's history on disk when its last member leaves at shutdown", async () => {
  const dataDir = Deno.makeTempDirSync();
  try {
    {
      await using server = serveChat({ ...LOOPBACK, dataDir });
      await using alice = await connectChat(server.addr);
      await alice.send("/join den");
      await alice.nextMatching(/den/);
      await alice.send("said in the den");
      await syncWho(alice);
    }
    deepEqual(rows(join(dataDir, STORE_FILE)).map((row) => [row.room, row.text]), [
      ["den", "said in the den"],
    ]);
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("serveChat() goes on from memory, with one log line, when the disk is full", async () => {
  const dataDir = Deno.makeTempDirSync();
  const events: LogEvent[] = [];
  try {
    await using server = serveChat({
      ...LOOPBACK,
      rate: 0,
      dataDir,
      logger: (event) => events.push(event),
    });
    const store = server.store!;
    ok(store !== null);
    // A full disk, as SQLite sees one: no page may be added to the file.
    const pages =
      (store.db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
    store.db.exec(`PRAGMA max_page_count = ${pages}`);
    await using alice = await connectChat(server.addr);
    const filler = "x".repeat(2000);
    for (let i = 0; i < 20; i++) await alice.send(`${filler} ${i}`);
    await syncWho(alice);
    store.journal!.flush();
    for (let i = 0; i < 5; i++) await alice.send(`after ${i}`);
    await syncWho(alice);
    store.journal!.flush();
    const warnings = events.filter((event) => event.event === "warning");
    equal(warnings.length, 1, JSON.stringify(warnings));
    match(
      warnings[0].reason!,
      /^store: cannot write history to .*parley\.db \(.*full.*\); history goes on in memory only/,
    );
    // The chat goes on, its history in memory.
    await using bob = await connectChat(server.addr);
    const replayed = (await syncWho(bob)).before.filter((text) => text.startsWith("* history:"));
    equal(replayed.at(-1), `* history: <${alice.nick}> after 4`);
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("NodeStore.open() answers null, with one log line, when the data directory is a file", () => {
  const dir = Deno.makeTempDirSync();
  const events: LogEvent[] = [];
  try {
    const file = join(dir, "file");
    Deno.writeTextFileSync(file, "");
    equal(NodeStore.open(file, { logger: (event) => events.push(event) }), null);
    equal(events.length, 1);
    match(
      events[0].reason!,
      /^store: cannot open .*file\/parley\.db \(.*\); running from memory only/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
