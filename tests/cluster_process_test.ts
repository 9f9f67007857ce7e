/**
 * Rooms across processes with real `server.ts` processes: a node killed
 * with `kill -9` mid-stream.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { connectChat, type LineClient } from "./helpers.ts";
import { redisMissing, RedisProcess, startNodeProcess } from "./redis_helpers.ts";

const ignore = redisMissing !== null;
const suffix = ignore ? ` (ignored: ${redisMissing})` : "";

/** The texts of `<nick> text` lines received until `last` arrives. */
async function spokenUntil(client: LineClient, last: string): Promise<string[]> {
  const spoken: string[] = [];
  while (spoken.at(-1) !== last) {
    const line = await client.nextLine(15_000);
    if (line.startsWith("<")) spoken.push(line);
  }
  return spoken;
}

Deno.test({
  name:
    `cluster: a node killed with kill -9 mid-stream: the others keep order, its members leave within 15 s${suffix}`,
  ignore,
  async fn() {
    await using redis = await RedisProcess.start();
    // Disposed in reverse order even when an assertion fails: no process outlives the test.
    await using a = await startNodeProcess(redis);
    await using b = await startNodeProcess(redis);
    await using doomed = await startNodeProcess(redis);
    const alice = await connectChat(a.addr);
    const bob = await connectChat(b.addr);
    const victim = await connectChat(doomed.addr);
    await victim.send("/nick victim");
    await victim.nextMatching(/you are now known as victim/);
    await bob.nextMatching(/known as victim/);
    await alice.nextMatching(/known as victim/);
    // alice and victim talk at once; victim's node dies half way.
    const lines = Array.from({ length: 200 }, (_, i) => `a${i}`);
    await victim.write(new TextEncoder().encode("v0\nv1\nv2\n"));
    await alice.write(
      new TextEncoder().encode(lines.slice(0, 100).map((l) => `${l}\n`).join("")),
    );
    doomed.child.kill("SIGKILL");
    const killed = performance.now();
    await alice.write(new TextEncoder().encode(lines.slice(100).map((l) => `${l}\n`).join("")));
    await alice.send("last");
    // bob gets all of alice's lines, in order, once.
    const heard = await spokenUntil(bob, `<${alice.nick}> last`);
    deepEqual(
      heard.filter((line) => line.startsWith(`<${alice.nick}>`)),
      [...lines, "last"].map((text) => `<${alice.nick}> ${text}`),
    );
    // victim is announced as gone, with its nick free, within 15 s.
    const left = await bob.nextMatching(/^\* victim left/, 15_000);
    equal(left, "* victim left (connection lost)");
    ok(performance.now() - killed < 15_000);
    await alice.send("/nick victim");
    equal(
      await alice.nextMatching(/^(\* you are now known as|! nick) /),
      "* you are now known as victim",
    );
    await victim.close();
    await Promise.all([alice.close(), bob.close()]);
    await doomed.child.status;
    for (const node of [a, b]) equal((await node.stop()).code, 0);
  },
});
