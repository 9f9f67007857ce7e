import { deepEqual, equal, ok } from "node:assert/strict";
import { HISTORY_ENTRY_OVERHEAD, HistoryStore } from "../lib/chat/history.ts";

const pure = { permissions: "none" } as const;
const line = (text: string, ts = 0) => ({ kind: "message" as const, from: "ann", text, ts });

Deno.test({
  ...pure,
  name: "HistoryStore keeps the last N lines of a room",
  fn() {
    const store = new HistoryStore({ lines: 3, roomBytes: 1 << 20, totalBytes: 1 << 20 });
    const room = store.room();
    for (let i = 1; i <= 5; i++) room.add(line(`m${i}`), 10);
    deepEqual(room.entries().map((entry) => entry.text), ["m3", "m4", "m5"]);
    equal(store.bytes, 3 * (10 + HISTORY_ENTRY_OVERHEAD));
  },
});

Deno.test({
  ...pure,
  name: "HistoryStore bounds a room by bytes, dropping its oldest lines",
  fn() {
    const cost = 1000 + HISTORY_ENTRY_OVERHEAD;
    const store = new HistoryStore({ lines: 100, roomBytes: 3 * cost, totalBytes: 1 << 20 });
    const room = store.room();
    for (let i = 1; i <= 10; i++) room.add(line(`m${i}`), 1000);
    deepEqual(room.entries().map((entry) => entry.text), ["m8", "m9", "m10"]);
    ok(room.bytes <= 3 * cost);
  },
});

Deno.test({
  ...pure,
  name: "HistoryStore bounds all rooms together, dropping the oldest line of any room",
  fn() {
    const cost = 100 + HISTORY_ENTRY_OVERHEAD;
    const store = new HistoryStore({ lines: 100, roomBytes: 1 << 20, totalBytes: 5 * cost });
    const rooms = Array.from({ length: 1000 }, () => store.room());
    rooms.forEach((room, i) => room.add(line(`r${i}`, i), 100));
    equal(store.bytes, 5 * cost);
    deepEqual(rooms.slice(0, 995).flatMap((room) => room.entries()), []);
    deepEqual(rooms.slice(995).map((room) => room.entries()[0].text), [
      "r995",
      "r996",
      "r997",
      "r998",
      "r999",
    ]);
  },
});

Deno.test({
  ...pure,
  name: "HistoryStore forgets a cleared room's bytes and never keeps a line that cannot fit",
  fn() {
    const store = new HistoryStore({ lines: 10, roomBytes: 2048, totalBytes: 4096 });
    const room = store.room();
    room.add(line("small"), 50);
    room.add(line("huge"), 5000);
    deepEqual(room.entries().map((entry) => entry.text), ["small"]);
    room.clear();
    equal(store.bytes, 0);
    equal(room.length, 0);
  },
});

Deno.test({
  ...pure,
  name: "HistoryStore stays within its bounds under churn across rooms",
  fn() {
    const store = new HistoryStore({ lines: 5, roomBytes: 2000, totalBytes: 20_000 });
    const rooms = Array.from({ length: 20 }, () => store.room());
    let seed = 7;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const room = rooms[seed % rooms.length];
      if (seed % 97 === 0) room.clear();
      else room.add(line(`l${i}`), seed % 500);
      ok(store.bytes <= 20_000);
    }
    const total = rooms.reduce((sum, room) => sum + room.bytes, 0);
    equal(total, store.bytes);
    for (const room of rooms) ok(room.length <= 5 && room.bytes <= 2000);
  },
});
