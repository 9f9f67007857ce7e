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
import { startServer } from "./process_helpers.ts";
import { nodeArgs, redisClusterMissing, RedisClusterProcess, startNode } from "./redis_helpers.ts";
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
        "server.ts processes given the seeds (--redis A,B,C): one killed with kill -9, its members leave",
        async () => {
          const args = (cluster: string) => nodeArgs(redis.url, cluster);
          await using live = await startServer("server.ts", args("procs"));
          await using doomed = await startServer("server.ts", args("procs"));
          await using alice = await connectChat(live.addr);
          await using victim = await connectChat(doomed.addr);
          await victim.send("/nick victim");
          await alice.nextMatching(/known as victim/);
          await victim.send("from the doomed node");
          equal(await alice.nextMatching(/^</), "<victim> from the doomed node");
          doomed.child.kill("SIGKILL");
          await doomed.child.status;
          equal(
            await alice.nextMatching(/^\* victim left/, 20_000),
            "* victim left (connection lost)",
          );
          await alice.send("/nick victim");
          equal(
            await alice.nextMatching(/^(\* you are now|! nick)/),
            "* you are now known as victim",
          );
          await victim.close();
          await alice.close();
          equal((await live.stop()).code, 0);
        },
      );

      await t.step(
        "the lobby's master killed with kill -9 mid-stream: a gap notice at most, never silent loss",
        async () => {
          await using alice = await connectChat(a.addr);
          await using bob = await connectChat(b.addr);
          await alice.nextMatching(new RegExp(`${bob.nick} joined`));
          const master = await redis.masterOf(clusterKeys("rc").seq("lobby"));
          const sent = Array.from({ length: 50 }, (_, i) => `b${i}`);
          await alice.write(new TextEncoder().encode(sent.map((l) => `${l}\n`).join("")));
          await redis.kill(master);
          const killed = performance.now();
          // Say something every 300 ms until bob hears it: chat goes on.
          const heard: string[] = [];
          const limit = RedisClusterProcess.NODE_TIMEOUT_MS * 5 + 10_000;
          await within(
            (async () => {
              while (true) {
                const line = `after ${sent.length}`;
                sent.push(line);
                await alice.send(line);
                const until = performance.now() + 300;
                while (performance.now() < until) {
                  const got = await bob.nextLine(Math.max(1, until - performance.now()))
                    .catch(() => null);
                  if (got === null) break;
                  heard.push(got);
                  if (got === `<${alice.nick}> ${line}`) return;
                }
              }
            })(),
            "chat to resume after the failover",
            limit,
          );
          const resumed = performance.now() - killed;
          await alice.send("final");
          sent.push("final");
          while (heard.at(-1) !== `<${alice.nick}> final`) heard.push(await bob.nextLine(15_000));
          const spoken = heard.filter((line) => line.startsWith(`<${alice.nick}> `))
            .map((line) => line.slice(alice.nick.length + 3));
          const gaps = heard.filter((line) => line.startsWith("* some messages were lost"));
          // Told to alice: lines that could not reach the other servers.
          const refused: string[] = [];
          while (alice.buffered > 0) {
            const line = await alice.nextLine();
            if (line.startsWith("! not delivered")) refused.push(line);
          }
          equal(new Set(spoken).size, spoken.length, "nothing doubled");
          deepEqual(spoken, sent.filter((line) => spoken.includes(line)), "in the order sent");
          const missing = sent.filter((line) => !spoken.includes(line));
          ok(
            missing.length === 0 || gaps.length > 0 || refused.length >= missing.length,
            `lost silently: ${JSON.stringify(missing)}`,
          );
          console.log(
            `failover: chat resumed ${resumed.toFixed(0)} ms after kill -9; ` +
              `${missing.length} of ${sent.length} lines not heard, ${refused.length} refused ` +
              `to the sender, ${gaps.length} gap notices`,
          );
          ok(resumed < limit);
        },
      );
    } finally {
      await Promise.all(nodes.map((node) => node.shutdown()));
      // node-redis's clients of the killed master end their last reconnect
      // wait (an uncancellable timer of at most the link's 500 ms) after
      // being destroyed.
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
  },
});
