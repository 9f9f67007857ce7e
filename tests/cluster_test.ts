/**
 * Rooms shared across server processes through Redis: each guarantee of
 * the README proven against a real redis-server (started and stopped by
 * each test), with several chat nodes in this process.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import type { ChatServer } from "../lib/server/serve_chat.ts";
import { connectChat, type LineClient, syncWho, within } from "./helpers.ts";
import { clusterKeys, PUBLISH } from "../lib/cluster/scripts.ts";
import { clusterTest } from "./redis_helpers.ts";
import { connectWsChat, wsSyncWho } from "./ws_helpers.ts";

/** A TCP member switched to JSON events (it then also gets its own messages). */
async function jsonMember(node: ChatServer): Promise<LineClient> {
  const client = await connectChat(node.addr);
  await client.send("/format json");
  await client.nextMatching(/"type":"format"/);
  return client;
}

/** The texts of the next `count` message events a JSON member receives. */
async function messages(client: LineClient, count: number): Promise<string[]> {
  const texts: string[] = [];
  while (texts.length < count) {
    const event = JSON.parse(await client.nextLine());
    if (event.type === "message") texts.push(`${event.from}: ${event.text}`);
  }
  return texts;
}

clusterTest(
  "1,000 lines sent at once from 3 nodes reach every member in one order",
  3,
  async ({ nodes }) => {
    const members: LineClient[] = [];
    for (const node of nodes) {
      for (let i = 0; i < 2; i++) members.push(await jsonMember(node));
    }
    // Everyone is in: each sees the last one join (or is the last one).
    for (const member of members.slice(0, -1)) {
      await member.nextMatching(new RegExp(`"nick":"${members.at(-1)!.nick}"`));
    }
    const per = Math.ceil(1000 / members.length);
    await Promise.all(members.map((member, m) =>
      member.write(new TextEncoder().encode(
        Array.from({ length: per }, (_, i) => `m${m} line ${i}\n`).join(""),
      ))
    ));
    const total = per * members.length;
    const seen = await Promise.all(members.map((member) => messages(member, total)));
    for (const order of seen) deepEqual(order, seen[0]);
    equal(new Set(seen[0]).size, total, "no duplicates");
    for (const [m, member] of members.entries()) { // each sender's lines in the order sent
      const own = seen[0].filter((text) => text.startsWith(`${member.nick}: m${m} `));
      deepEqual(own, Array.from({ length: per }, (_, i) => `${member.nick}: m${m} line ${i}`));
    }
    await Promise.all(members.map((member) => member.close()));
  },
);

clusterTest(
  "/who, /rooms, /msg and history span nodes, TCP and WebSocket alike",
  2,
  async ({ nodes: [a, b] }) => {
    await using alice = await connectChat(a.addr); // TCP on node A
    await alice.send("/nick alice");
    await alice.nextMatching(/known as alice/);
    await using bob = await connectWsChat(b.httpAddr!); // WebSocket on node B
    bob.send("/nick bob");
    await bob.nextMatching(/you are now known as bob/);
    equal(await alice.nextMatching(/joined/), `* ${bob.nick} joined lobby`);
    equal(await alice.nextMatching(/known as/), `* ${bob.nick} is now known as bob`);
    equal((await syncWho(alice)).who, "* 2 in lobby: alice, bob");
    equal((await wsSyncWho(bob)).who, "* 2 in lobby: alice, bob");
    await alice.send("hello from A");
    equal(await bob.nextMatching(/^</), "<alice> hello from A");
    bob.send("/msg alice across nodes");
    equal(await alice.nextMatching(/^\[/), "[bob -> you] across nodes");
    await alice.send("/msg nobody hi");
    equal(await alice.nextMatching(/^!/), "! no such nick: nobody");
    await alice.send("/join dev");
    await alice.nextMatching(/you joined dev/);
    await alice.send("said in dev");
    await alice.send("/me waves in dev");
    bob.send("/rooms");
    equal(await bob.nextMatching(/rooms?:/), "* 2 rooms: dev (1), lobby (1)");
    bob.send("/join DEV");
    equal(await bob.nextMatching(/you joined/), "* you joined dev; 2 here: alice, bob");
    equal(await bob.nextLine(), "* history: <alice> said in dev");
    equal(await bob.nextLine(), "* history: <alice> *waves in dev*");
    // A new member of node A joining later sees the same history.
    await using carol = await connectChat(a.addr);
    await carol.send("/join dev");
    await carol.nextMatching(/you joined dev/);
    deepEqual([await carol.nextLine(), await carol.nextLine()], [
      "* history: <alice> said in dev",
      "* history: <alice> *waves in dev*",
    ]);
  },
);

clusterTest(
  "two members on two nodes racing for one nick: one winner, 100 times",
  2,
  async ({ nodes: [a, b] }) => {
    await using left = await connectChat(a.addr);
    await using right = await connectChat(b.addr);
    for (let race = 0; race < 100; race++) {
      const nick = `racer${race}`;
      await Promise.all([left.send(`/nick ${nick}`), right.send(`/nick ${nick}`)]);
      const own = new RegExp(`^(\\* you are now known as ${nick}|! nick ${nick} is taken)$`);
      const answers = [await left.nextMatching(own), await right.nextMatching(own)];
      const winners = answers.filter((answer) => answer === `* you are now known as ${nick}`);
      equal(winners.length, 1, `race ${race}: ${JSON.stringify(answers)}`);
      equal(answers.filter((answer) => answer === `! nick ${nick} is taken`).length, 1);
    }
  },
);

clusterTest(
  "Redis killed and restarted: senders are told, then one gap notice, no duplicates",
  2,
  async ({ redis, nodes: [a, b] }) => {
    await using alice = await connectChat(a.addr);
    await using anne = await connectChat(a.addr); // alice's neighbour on node A
    await using bob = await connectChat(b.addr);
    await anne.nextMatching(/joined/);
    await alice.nextMatching(new RegExp(`${bob.nick} joined`));
    await alice.send("before");
    equal(await bob.nextMatching(/^</), `<${alice.nick}> before`);
    await redis.kill();
    await alice.send("during");
    equal(
      await alice.nextMatching(/^!/),
      "! not delivered to other servers: the link between servers is down; only people on this server saw it",
    );
    equal(await anne.nextMatching(/during/), `<${alice.nick}> during`); // same node: still heard
    await redis.restart();
    const restarted = performance.now();
    // Say something every 300 ms until a line is not refused: delivery resumed.
    const failed = new Set<number>();
    let attempt = 0;
    await within(
      (async () => {
        while (true) {
          await alice.send(`after ${attempt}`);
          const refused = await alice.nextMatching(/^! not delivered/, 300).catch(() => null);
          if (refused === null) return;
          failed.add(attempt++);
        }
      })(),
      "delivery to resume",
    );
    const resumedAfter = performance.now() - restarted;
    ok(resumedAfter < 2000 + 300, `resumed ${resumedAfter.toFixed(0)} ms after the restart`);
    await alice.send("final");
    const rest: string[] = [];
    while (rest.at(-1) !== `<${alice.nick}> final`) rest.push(await bob.nextLine());
    deepEqual(
      rest.filter((line) => line === "* some messages were lost (server link interrupted)"),
      ["* some messages were lost (server link interrupted)"],
      `exactly one gap notice: ${JSON.stringify(rest)}`,
    );
    const spoken = rest.filter((line) => line.startsWith("<"));
    deepEqual(spoken, [`<${alice.nick}> after ${attempt}`, `<${alice.nick}> final`]);
    equal(failed.size, attempt, "every line said while Redis was away was refused, none lost");
  },
);

clusterTest(
  "subscriptions killed by Redis (CLIENT KILL TYPE pubsub): caught up from the stream",
  2,
  async ({ redis, nodes: [a, b] }) => {
    await using alice = await jsonMember(a);
    await using bob = await jsonMember(b);
    await alice.nextMatching(new RegExp(`"nick":"${bob.nick}"`));
    // One event published in the same transaction that kills the
    // subscriptions, so it surely misses them; no later event shows a jump:
    // only the catch-up on resubscribing can bring it.
    const keys = clusterKeys("test");
    const payload = JSON.stringify({
      e: { type: "message", room: "lobby", from: "ghost", text: "the only line" },
      t: Date.now(),
      o: null,
      x: false,
    });
    const reply = await redis.transaction([
      ["MULTI"],
      ["CLIENT", "KILL", "TYPE", "pubsub"],
      [
        "EVAL",
        PUBLISH,
        "3",
        keys.seq("lobby"),
        keys.stream("lobby"),
        keys.epoch("lobby"),
        keys.roomChannel("lobby"),
        payload,
        "1000",
        "unused",
        "1",
        "PUBLISH",
      ],
      ["EXEC"],
    ], /\*2\r\n:\d+\r\n\*2\r\n/);
    match(reply, /\*2\r\n:[1-9]\d*\r\n\*2\r\n/); // subscriptions killed, then published
    deepEqual(await messages(alice, 1), ["ghost: the only line"]);
    match(await redis.command("CLIENT", "KILL", "TYPE", "pubsub"), /^:[1-9]/);
    // Right away, while the nodes resubscribe, bob says 300 lines.
    await bob.write(new TextEncoder().encode(
      Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join(""),
    ));
    deepEqual(
      await messages(alice, 300),
      Array.from({ length: 300 }, (_, i) => `${bob.nick}: line ${i}`),
    );
    // Nothing more: no duplicate came after the 300.
    await alice.send("/who");
    const after: string[] = [];
    for (
      let line = await alice.nextLine();
      !line.includes('"members"');
      line = await alice.nextLine()
    ) {
      after.push(line);
    }
    deepEqual(after.filter((line) => line.includes('"message"')), []);
  },
);

clusterTest(
  "a room first entered while Redis is down gets its events once Redis is back",
  2,
  async ({ redis, nodes: [a, b] }) => {
    await using alice = await connectChat(a.addr);
    await using bob = await connectChat(b.addr);
    await redis.kill();
    await bob.send("/join dev"); // node B's first member in dev: its subscription cannot be made
    await bob.nextMatching(/you joined dev/);
    await redis.restart();
    await alice.send("/join dev");
    await alice.nextMatching(/you joined dev/);
    // Once B has set dev up again, what alice says in dev reaches bob.
    await within(
      (async () => {
        for (let i = 0;; i++) {
          await alice.send(`probe ${i}`);
          const heard = await bob.nextMatching(/^<.*probe \d+$/, 300).catch(() => null);
          if (heard !== null) return;
        }
      })(),
      "node B to hear dev again",
    );
  },
);

clusterTest(
  "what happened during a short outage is put right: nicks freed, no ghosts",
  2,
  async ({ redis, nodes: [a, b] }) => {
    await using alice = await connectChat(a.addr);
    const ghost = await connectChat(a.addr);
    await ghost.send("/nick ghost");
    await ghost.nextMatching(/you are now known as ghost/);
    await using bob = await connectChat(b.addr);
    // The nodes' command connections drop (a short outage, Redis's data
    // kept) just as ghost leaves: node A's writes for ghost fail.
    match(await redis.command("CLIENT", "KILL", "TYPE", "normal"), /^:[1-9]/);
    await ghost.close();
    await alice.nextMatching(/ghost left/);
    // When Redis answers again, node A removes what it still held for ghost.
    await within(
      (async () => {
        while (true) {
          await bob.send("/who");
          // Node B's own link may still be coming back: then /who says so, and is asked again.
          const who = await bob.nextMatching(/ in lobby: |^! cannot list members now/, 3000);
          if (who.includes(" in lobby: ") && !who.includes("ghost")) return;
        }
      })(),
      "ghost to leave /who",
    );
    // ... and frees ghost's nick (in the same step, right after).
    await within(
      (async () => {
        while (true) {
          await bob.send("/nick ghost");
          const answer = await bob.nextMatching(
            /^(\* you are now known as|! nick|! cannot change nick)/,
          );
          if (answer === "* you are now known as ghost") return;
        }
      })(),
      "ghost's nick to be freed",
    );
  },
);

clusterTest("an emptied room leaves nothing behind in Redis", 1, async ({ redis, nodes: [a] }) => {
  await using alice = await connectChat(a.addr);
  await alice.send("/join foo");
  await alice.nextMatching(/you joined foo/);
  await alice.send("said in foo");
  await alice.send("/join bar");
  await alice.nextMatching(/you joined bar/);
  await syncWho(alice);
  equal(await redis.command("KEYS", "test:room:{foo}*"), "*0\r\n");
});

clusterTest(
  "each node replays its own --history length, from the shared stream",
  [{ history: 3 }, { history: 30 }],
  async ({ nodes: [short, long] }) => {
    await using alice = await connectChat(short.addr);
    await alice.write(
      new TextEncoder().encode(Array.from({ length: 25 }, (_, i) => `line ${i}\n`).join("")),
    );
    await syncWho(alice); // said, in order, before the /who answer
    const history = async (node: ChatServer) => {
      await using client = await connectChat(node.addr);
      return (await syncWho(client)).before.filter((line) => line.startsWith("* history: "));
    };
    const said = (from: number) =>
      Array.from({ length: 25 - from }, (_, i) => `* history: <${alice.nick}> line ${from + i}`);
    deepEqual(await history(short), said(22));
    deepEqual(await history(long), said(0)); // not a second copy of another's settings
  },
);

clusterTest(
  "a rename takes the new nick, frees the old one and records it, at once",
  2,
  async ({ redis, nodes: [a, b] }) => {
    await using alice = await connectChat(a.addr);
    await using bob = await connectChat(b.addr);
    const answer = /^(\* you are now known as|! nick)/;
    await alice.send("/nick ann");
    equal(await alice.nextMatching(answer), "* you are now known as ann");
    await bob.send("/nick ann");
    equal(await bob.nextMatching(answer), "! nick ann is taken");
    await alice.send("/nick anna");
    equal(await alice.nextMatching(answer), "* you are now known as anna");
    await bob.send("/nick ann"); // free at once: no second step to wait for
    equal(await bob.nextMatching(answer), "* you are now known as ann");
    match((await syncWho(alice)).who, /^\* 2 in lobby: (anna, ann|ann, anna)$/); // join order: whichever entry reached Redis first
    // Redis holds anna for alice, and alice's record says anna.
    const keys = clusterKeys("test");
    const ref = (await redis.command("GET", keys.nick("anna"))).split("\r\n")[1];
    match(ref, /^[^/]+\/\d+$/);
    match(await redis.command("HGET", keys.roomRecords("lobby"), ref), /"n":"anna"/);
  },
);
