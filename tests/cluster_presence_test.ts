/**
 * Exact presence across nodes whatever the timing: connections that open
 * and close within milliseconds (a load balancer's health checks), rooms
 * joined and left at once, and a churn run while others chat. Against a
 * real redis-server; `PARLEY_CHURN_SECONDS` sets the churn run's length
 * (default 15 s in the suite; the full run is 60).
 */
import { deepEqual, equal } from "node:assert/strict";
import { nameKey } from "../lib/chat/names.ts";
import { clusterKeys } from "../lib/cluster/scripts.ts";
import type { ChatServer } from "../lib/server/serve_chat.ts";
import { connectChat, type LineClient, within } from "./helpers.ts";
import { clusterTest, type RedisProcess } from "./redis_helpers.ts";

/** The items of a raw RESP array of bulk strings (as `RedisProcess.command` returns it). */
export function respItems(reply: string): string[] {
  const lines = reply.split("\r\n");
  const items: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].startsWith("$")) items.push(lines[++i]);
  }
  return items;
}

/** Opens a TCP connection to `node` and closes it within milliseconds, in one of three ways. */
async function probe(node: ChatServer, way: number, command: string | null): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: node.addr.port });
  try {
    if (command !== null) await conn.write(new TextEncoder().encode(`${command}\n`));
    if (way === 1) await conn.write(new TextEncoder().encode("hi\n"));
    // Read the welcome and close with the rest unread: the kernel answers with a reset.
    if (way === 2) await conn.read(new Uint8Array(16));
  } catch { /* the server may be faster */ }
  conn.close();
}

/** `count` probes spread over `nodes`, `parallel` at a time; every third closed abruptly. */
async function probes(
  nodes: ChatServer[],
  count: number,
  parallel: number,
  command: (i: number) => string | null = () => null,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      const i = next++;
      await probe(nodes[i % nodes.length], Math.floor(i / nodes.length) % 3, command(i));
    }
  }));
}

/** Sends `command` and returns the first answer matching `answer`. */
async function ask(client: LineClient, command: string, answer: RegExp): Promise<string> {
  await client.send(command);
  return await client.nextMatching(answer);
}

/**
 * Waits (30 s at most) until `/who` and `/rooms` asked on every node's
 * member say exactly `who` and `rooms`; else fails with what they said.
 */
async function untilExact(members: LineClient[], who: string[], rooms: string): Promise<void> {
  const expected = `* ${who.length} in lobby: ${[...who].sort().join(", ")}`;
  let last: string[] = [];
  const exact = async () => {
    last = [];
    for (const member of members) {
      const answer = await ask(member, "/who", /^\* \d+ in lobby: /);
      const [head, names] = answer.split(": ");
      last.push(`${head}: ${names.split(", ").sort().join(", ")}`);
      last.push(await ask(member, "/rooms", /^\* \d+ rooms?: /));
    }
    return last.every((said, i) => said === (i % 2 === 0 ? expected : rooms));
  };
  try {
    await within(
      (async () => {
        while (!(await exact())) await new Promise((resolve) => setTimeout(resolve, 200));
      })(),
      "every node's view to be exact",
      30_000,
    );
  } catch (error) {
    throw new Error(`not exact: ${JSON.stringify(last)}`, { cause: error });
  }
}

/** Fails unless Redis holds member records, room members and nicks of `nicks` only. */
async function redisHoldsOnly(redis: RedisProcess, nicks: string[], rooms: string[]) {
  const keys = clusterKeys("test");
  const records = respItems(await redis.command("HVALS", keys.roomRecords("lobby")));
  deepEqual(records.map((record) => JSON.parse(record).n).sort(), [...nicks].sort());
  const refs = respItems(await redis.command("HKEYS", keys.roomRecords("lobby"))).sort();
  deepEqual(
    respItems(await redis.command("ZRANGE", keys.roomMembers("lobby"), "0", "-1")).sort(),
    refs,
  );
  const held = respItems(await redis.command("KEYS", keys.nick("*")));
  deepEqual(
    held.map((key) => key.slice(keys.nick("").length)).sort(),
    nicks.map(nameKey).sort(),
  );
  const nodes = respItems(await redis.command("SMEMBERS", keys.nodes));
  const placed: string[] = [];
  for (const node of nodes) {
    placed.push(...respItems(await redis.command("HKEYS", keys.nodeMembers(node))));
  }
  deepEqual(placed.sort(), refs);
  deepEqual(respItems(await redis.command("HKEYS", keys.rooms)).sort(), rooms);
  equal(respItems(await redis.command("KEYS", "test:room:{r*")).length, 0, "no room left behind");
}

/**
 * One member on each node after the probes: every node's `/who` and
 * `/rooms` and Redis's keys hold those three alone, in lobby (`settle`
 * first waits for what is freed later).
 */
async function onlyRealMembers(
  redis: RedisProcess,
  nodes: ChatServer[],
  settle?: () => Promise<void>,
): Promise<void> {
  const members = await Promise.all(nodes.map((node) => connectChat(node.addr)));
  try {
    const nicks = members.map((member) => member.nick);
    await untilExact(members, nicks, "* 1 room: lobby (3)");
    await settle?.();
    await redisHoldsOnly(redis, nicks, ["lobby"]);
  } finally {
    await Promise.all(members.map((member) => member.close()));
  }
}

clusterTest(
  "1,000 connections closed within milliseconds over 3 nodes leave no ghost",
  3,
  async ({ redis, nodes }) => {
    await probes(nodes, 1000, 60);
    await onlyRealMembers(redis, nodes);
  },
);

clusterTest(
  "300 members who /join a new room and close at once leave no room behind",
  3,
  async ({ redis, nodes }) => {
    await probes(nodes, 300, 30, (i) => `/join r${i}`);
    await onlyRealMembers(redis, nodes);
  },
);

clusterTest(
  "300 members who /nick and close at once leave no nick behind",
  3,
  async ({ redis, nodes }) => {
    await probes(nodes, 300, 30, (i) => `/nick p${i}`);
    await onlyRealMembers(redis, nodes, async () => {
      // The nicks are freed after the members' entries are gone: wait for them too.
      await within(
        (async () => {
          while (respItems(await redis.command("KEYS", "test:nick:*")).length > 3) {
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        })(),
        "every probe's nick to be freed",
      ).catch(() => {});
    });
  },
);

/** Seconds of the churn run (`PARLEY_CHURN_SECONDS`, default 15). */
const CHURN_SECONDS = Number(Deno.env.get("PARLEY_CHURN_SECONDS") ?? 15);
/** Clients of the churn run, connecting and leaving at random. */
const CHURNERS = 200;
/** Members chatting through the churn run. */
const CHATTERS = 20;

/** Reads a chatter's lines until every other chatter's `done` came; returns `nick → numbers`. */
async function heard(client: LineClient, others: number): Promise<Map<string, string[]>> {
  const lines = new Map<string, string[]>();
  const done = new Set<string>();
  while (done.size < others) {
    let line: string;
    try {
      line = await client.nextLine(30_000);
    } catch (error) {
      const counts = [...lines].map(([nick, said]) => `${nick}:${said.length}`).join(" ");
      throw new Error(`${client.nick} got done from ${[...done].join(",")}; ${counts}`, {
        cause: error,
      });
    }
    if (line.startsWith("* some messages were lost")) throw new Error(`${client.nick}: ${line}`);
    const said = /^<(\S+)> c\d+ (line \d+|done)$/.exec(line);
    if (said === null) continue;
    if (said[2] === "done") done.add(said[1]);
    else lines.set(said[1], [...(lines.get(said[1]) ?? []), said[2]]);
  }
  return lines;
}

clusterTest(
  `a ${CHURN_SECONDS} s churn run (${CHURNERS} clients coming and going on 3 nodes, ${CHATTERS} chatting): views exact, no line lost or doubled`,
  3,
  async ({ redis, nodes }) => {
    const chatters: LineClient[] = [];
    for (let c = 0; c < CHATTERS; c++) chatters.push(await connectChat(nodes[c % 3].addr));
    // The welcome comes before a member's entry reaches the other nodes: every
    // chatter is in the room, on every node, before anyone speaks.
    await untilExact(
      chatters.slice(0, 3),
      chatters.map((chatter) => chatter.nick),
      `* 1 room: lobby (${CHATTERS})`,
    );
    const end = performance.now() + CHURN_SECONDS * 1000;
    const sent: number[] = chatters.map(() => 0);
    try {
      const churn = Array.from({ length: CHURNERS }, async (_, i) => {
        while (performance.now() < end) {
          const node = nodes[Math.floor(Math.random() * 3)];
          const client = await connectChat(node.addr).catch(() => null);
          if (client === null) continue;
          const roll = Math.random();
          if (roll < 0.3) await client.send(`/join r${i % 7}`);
          else if (roll < 0.5) await client.send(`/nick churn${i}`);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
          await client.close();
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
        }
      });
      const chat = chatters.map(async (chatter, c) => {
        while (performance.now() < end) {
          await chatter.send(`c${c} line ${sent[c]++}`);
          await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 200));
        }
        await chatter.send(`c${c} done`);
      });
      const listening = chatters.map((chatter) => heard(chatter, CHATTERS - 1));
      await Promise.all([...churn, ...chat]);
      const received = await Promise.all(listening);
      for (const [c, chatter] of chatters.entries()) {
        for (const [o, other] of chatters.entries()) {
          if (o === c) continue;
          const got = received[c].get(other.nick) ?? [];
          const expected = Array.from({ length: sent[o] }, (_, i) => `line ${i}`);
          const differs = expected.findIndex((line, i) => got[i] !== line);
          const first = differs === -1 ? expected.length : differs;
          deepEqual(
            got,
            expected,
            `${chatter.nick} heard ${other.nick} once each, in order: ${got.length} lines of ${
              sent[o]
            }, first difference at ${first}: ${JSON.stringify(got.slice(first, first + 5))}`,
          );
        }
      }
      const nicks = chatters.map((chatter) => chatter.nick);
      await untilExact(chatters.slice(0, 3), nicks, `* 1 room: lobby (${CHATTERS})`);
      await redisHoldsOnly(redis, nicks, ["lobby"]);
    } finally {
      await Promise.all(chatters.map((chatter) => chatter.close()));
    }
  },
);
