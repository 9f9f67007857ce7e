import { equal, match, ok } from "node:assert/strict";
import { RedisModeration } from "../lib/cluster/redis_moderation.ts";
import type { ChatServer } from "../lib/server/serve_chat.ts";
import { hashPassword } from "../lib/store/passwords.ts";
import { nameKey } from "../lib/chat/names.ts";
import { connectChat, LineClient, WAIT_MS } from "./helpers.ts";
import { redisMissing, RedisProcess, startNode } from "./redis_helpers.ts";

const operators = new Map([["root", await hashPassword("hunter2", 1024)]]);

/** A node sharing moderation through `redis`. */
async function moderatedNode(redis: RedisProcess): Promise<ChatServer> {
  const sharedModeration = await RedisModeration.open({ url: redis.url, cluster: "test" });
  return await startNode(redis, { operators, sharedModeration });
}

/** Polls (bounded) until `check` holds: a change crosses Redis's pub/sub. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test({
  name: redisMissing === null
    ? "cluster: a ban, a registration and a topic made on one node hold on another, and on a node started later"
    : `cluster: a ban, a registration and a topic made on one node hold on another (ignored: ${redisMissing})`,
  ignore: redisMissing !== null,
  async fn() {
    await using redis = await RedisProcess.start();
    const a = await moderatedNode(redis);
    const b = await moderatedNode(redis);
    const started = [a, b];
    try {
      await using op = await connectChat(a.addr);
      await using alice = await connectChat(a.addr);
      await op.send("/oper root hunter2");
      await op.nextMatching(/now an operator/);
      await alice.send("/nick alice");
      await alice.nextMatching(/now known as alice/);
      await alice.send("/register sesame");
      await alice.nextMatching(/is registered; /);
      await op.send("/topic shared topic");
      await op.nextMatching(/topic of lobby set/);
      await eventually(
        () => b.hub.moderation.registration(nameKey("alice")) !== undefined,
        "the registration to reach node b",
      );
      await eventually(() => b.hub.moderation.topic(nameKey("lobby")) !== undefined, "the topic");
      await alice.close();
      // On node b: alice is refused to a stranger and taken by its owner.
      await using stranger = await connectChat(b.addr);
      await stranger.send("/nick alice");
      match(await stranger.nextMatching(/^!/), /^! nick alice is registered; /);
      await stranger.send("/nick alice sesame");
      equal(
        await stranger.nextMatching(/^[*!] (you are now|wrong)/),
        "* you are now known as alice",
      );
      // A ban made on node a refuses the address at node b's admission.
      await op.send("/ban 127.0.0.1 10m shared");
      await op.nextMatching(/^\* banned 127\.0\.0\.1\/32/);
      await eventually(
        () => b.hub.moderation.banOn("127.0.0.1", Date.now()) !== undefined,
        "the ban to reach node b",
      );
      // Node b's member from the address is removed, told why.
      const last = (await stranger.untilClosed()).filter((line) => line.startsWith("!"));
      match(last[0], /^! you were banned from this server until .*: shared \(by root\)$/);
      await using refused = await LineClient.connect(b.addr);
      match((await refused.untilClosed())[0], /^! banned from this server until .*: shared$/);
      // A node started later reads what is shared.
      const c = await moderatedNode(redis);
      started.push(c);
      ok(c.hub.moderation.banOn("127.0.0.1", Date.now()) !== undefined);
      equal(c.hub.moderation.topic(nameKey("lobby"))?.text, "shared topic");
      await op.send("/unban 127.0.0.1");
      await op.nextMatching(/unbanned/);
      await eventually(
        () => c.hub.moderation.banOn("127.0.0.1", Date.now()) === undefined,
        "the unban to reach node c",
      );
    } finally {
      await Promise.all(started.map((node) => node.shutdown()));
    }
  },
});

Deno.test({
  name: redisMissing === null
    ? "cluster: an operator on one node kicks, mutes and bans (by nick) a member of another"
    : `cluster: an operator on one node kicks, mutes and bans a member of another (ignored: ${redisMissing})`,
  ignore: redisMissing !== null,
  async fn() {
    await using redis = await RedisProcess.start();
    const a = await moderatedNode(redis);
    const b = await moderatedNode(redis);
    try {
      await using op = await connectChat(a.addr);
      await op.send("/oper root hunter2");
      await op.nextMatching(/now an operator/);
      await using bob = await connectChat(b.addr);
      await using carol = await connectChat(b.addr);
      // Nicks recorded in Redis before anyone looks them up (a guest nick is recorded later).
      for (const [client, nick] of [[bob, "bob"], [carol, "carol"]] as const) {
        await client.send(`/nick ${nick}`);
        await client.nextMatching(/^\* you are now known as /);
        client.nick = nick;
      }
      await op.send(`/mute ${carol.nick} 5m`);
      equal(
        await op.nextMatching(/sent to its server/),
        `* mute of ${carol.nick} sent to its server`,
      );
      match(await carol.nextMatching(/muted/), /^\* you are muted by root until /);
      await carol.send("spam");
      match(await carol.nextMatching(/^!/), /^! you are muted until .*; this line was not sent$/);
      await op.send(`/kick ${bob.nick} bye`);
      equal(
        await op.nextMatching(/sent to its server/),
        `* kick of ${bob.nick} sent to its server`,
      );
      ok((await bob.untilClosed()).includes("! you were kicked by root (bye)"));
      equal(await op.nextMatching(/kicked by/), `* ${bob.nick} was kicked by root (bye)`);
      // A ban by nick: node b bans the member's address (shared), and removes it.
      await op.send(`/ban ${carol.nick} 10m go`);
      await op.nextMatching(/ban of .* sent to its server/);
      const last = (await carol.untilClosed()).filter((line) => line.startsWith("!"));
      match(last.at(-1)!, /^! you were banned from this server until .*: go \(by root\)$/);
      await eventually(
        () => a.hub.moderation.banOn("127.0.0.1", Date.now()) !== undefined,
        "the ban to reach node a",
      );
      equal(op.ended, false, "operators are never removed by a ban");
    } finally {
      await Promise.all([a, b].map((node) => node.shutdown()));
    }
  },
});
