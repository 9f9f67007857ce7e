import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { healthAnswer } from "../lib/server/health.ts";
import { type ChatServer, serveChat, type ServeChatOptions } from "../lib/server/serve_chat.ts";
import { refusalLabel } from "../lib/server/metrics.ts";
import { connectChat, LineClient, LOOPBACK, syncWho, utf8, WAIT_MS, within } from "./helpers.ts";
import { connectWsChat, readResponse, upgradeRequest } from "./ws_helpers.ts";
import { redisMissing, RedisProcess, startNode } from "./redis_helpers.ts";

/** One GET over a fresh connection: status, headers (lower-cased names) and body. */
async function get(
  server: ChatServer,
  path: string,
): Promise<{ status: number; headers: Map<string, string>; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.httpAddr!.port });
  try {
    await conn.write(utf8(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    const response = await readResponse(conn, 1024 * 1024);
    const split = response.indexOf("\r\n\r\n");
    const [statusLine, ...headerLines] = response.slice(0, split).split("\r\n");
    const headers = new Map(headerLines.map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
    }));
    return { status: Number(statusLine.split(" ")[1]), headers, body: response.slice(split + 4) };
  } finally {
    conn.close();
  }
}

/**
 * A strict parser of the Prometheus text format (0.0.4): every sample
 * belongs to a family declared by `# TYPE` before it, names and labels are
 * well formed, values are Go floats, no series appears twice. Returns each
 * series (`name{a="b"}`, labels sorted) with its value.
 */
export function parsePrometheus(text: string): Map<string, number> {
  const series = new Map<string, number>();
  const types = new Map<string, string>();
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  ok(text.endsWith("\n"), "the exposition ends with a line feed");
  for (const [index, line] of text.split("\n").entries()) {
    const where = `line ${index + 1}: ${JSON.stringify(line)}`;
    if (line === "") continue;
    if (line.startsWith("#")) {
      const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (comment === null) continue; // other comments are allowed
      ok(name.test(comment[2]), where);
      if (comment[1] === "TYPE") {
        ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(comment[3]), where);
        ok(!types.has(comment[2]), `${where}: TYPE given twice`);
        types.set(comment[2], comment[3]);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    ok(sample !== null, `${where}: not a sample`);
    const [, metric, , labelText, valueText] = sample;
    const family = [...types.keys()].find((family) =>
      metric === family ||
      (types.get(family) === "histogram" &&
        /^(.*)_(bucket|sum|count)$/.exec(metric)?.[1] === family)
    );
    ok(family !== undefined, `${where}: no TYPE for ${metric}`);
    const labels: string[] = [];
    if (labelText !== undefined && labelText !== "") {
      const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < labelText.length) {
        label.lastIndex = at;
        const match = label.exec(labelText);
        ok(match !== null, `${where}: bad label at ${at}`);
        labels.push(`${match[1]}="${match[2]}"`);
        at = label.lastIndex;
      }
    }
    ok(
      /^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/.test(valueText),
      `${where}: bad value`,
    );
    const key = labels.length === 0 ? metric : `${metric}{${labels.sort().join(",")}}`;
    ok(!series.has(key), `${where}: series given twice`);
    series.set(key, Number(valueText.replace("Inf", "Infinity")));
  }
  return series;
}

async function scrape(server: ChatServer): Promise<Map<string, number>> {
  const { status, headers, body } = await get(server, "/metrics");
  equal(status, 200, body);
  equal(headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheus(body);
}

/** Scrapes until `series` satisfies `done` (bounded); returns its value. */
async function untilMetric(
  server: ChatServer,
  series: string,
  done: (value: number) => boolean,
): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  while (true) {
    const value = (await scrape(server)).get(series);
    if (value !== undefined && done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${series} stayed at ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function metricsServer(options: ServeChatOptions = {}): Promise<ChatServer> {
  const server = serveChat({ ...LOOPBACK, httpPort: 0, metrics: true, ...options });
  await server.ready;
  return server;
}

Deno.test({
  name: "healthAnswer() is 200 while serving and 503 with the reasons while draining or cut off",
  permissions: "none",
  fn() {
    const serving = { draining: false, linkDown: false, members: 1, storeProblem: null };
    deepEqual(healthAnswer(serving), {
      status: 200,
      body: "ok: serving 1 member\n",
      headers: { "cache-control": "no-store" },
    });
    equal(
      healthAnswer({ ...serving, storeProblem: "cannot be opened; history in memory only" }).body,
      "ok: serving 1 member\nstore: cannot be opened; history in memory only\n",
    );
    const down = healthAnswer({ ...serving, draining: true, linkDown: true });
    equal(down.status, 503);
    equal(
      down.body,
      "unavailable\ndraining: the server is shutting down\ncluster link down: Redis does not answer\n",
    );
    deepEqual(
      ["server full (2 clients); try again later", "too many connections from ::1 (at most 1)", "x"]
        .map(refusalLabel),
      ["server_full", "per_ip", "other"],
    );
  },
});

Deno.test({
  name: "the Prometheus parser of the tests refuses what a scraper would",
  permissions: "none",
  fn() {
    deepEqual(
      [...parsePrometheus('# TYPE a counter\na{x="1",y="q\\"z"} 1\na 2.5e3\n').entries()],
      [['a{x="1",y="q\\"z"}', 1], ["a", 2500]],
    );
    throws(() => parsePrometheus("a 1\n"), /no TYPE/);
    throws(() => parsePrometheus("# TYPE a gauge\na Nan\n"), /bad value/);
    throws(() => parsePrometheus("# TYPE a gauge\na 1\na 2\n"), /twice/);
    throws(() => parsePrometheus("# TYPE a gauge\na{x=1} 1\n"), /bad label/);
  },
});

Deno.test("serveChat() answers /healthz 200 while serving, 503 while draining, and no /metrics unless asked", async () => {
  // The drain delay is the test's window to see the draining server answer.
  await using server = serveChat({ ...LOOPBACK, httpPort: 0, drainDelay: 3000 });
  await server.ready;
  await using alice = await connectChat(server.addr);
  const healthy = await get(server, "/healthz");
  deepEqual([healthy.status, healthy.body], [200, "ok: serving 1 member\n"]);
  equal((await get(server, "/metrics")).status, 404);
  const stopped = server.shutdown();
  const draining = await get(server, "/healthz");
  deepEqual([draining.status, draining.body], [
    503,
    "unavailable\ndraining: the server is shutting down\n",
  ]);
  // Still serving while it drains.
  await using bob = await connectChat(server.addr);
  await bob.send("still here");
  equal(await alice.nextMatching(/still here/), `<${bob.nick}> still here`);
  await within(stopped, "the shutdown after the drain delay");
  equal(await alice.nextMatching(/shutting down/), "* server shutting down");
});

Deno.test({
  name: "serveChat() answers /healthz 503 while its Redis link is down, 200 once it is back",
  ignore: redisMissing !== null,
  async fn() {
    await using redis = await RedisProcess.start();
    const server = await startNode(redis, { metrics: true });
    try {
      equal((await get(server, "/healthz")).status, 200);
      const up = await scrape(server);
      equal(up.get("parley_redis_link_up"), 1);
      ok(up.get("parley_redis_rtt_seconds")! > 0);
      await redis.kill();
      const deadline = Date.now() + WAIT_MS;
      let answer = await get(server, "/healthz");
      while (answer.status !== 503 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        answer = await get(server, "/healthz");
      }
      deepEqual([answer.status, answer.body], [
        503,
        "unavailable\ncluster link down: Redis does not answer\n",
      ]);
      equal((await scrape(server)).get("parley_redis_link_up"), 0);
      await redis.restart();
      await untilMetric(server, "parley_redis_link_up", (value) => value === 1);
      equal((await get(server, "/healthz")).status, 200);
    } finally {
      await server.shutdown();
    }
  },
});

if (redisMissing !== null) console.log(`Redis health test ignored: ${redisMissing}`);

Deno.test("serveChat() /metrics: connections, admissions, lines, flood and long-line drops, rooms, history, loop and memory move", async () => {
  const dataDir = Deno.makeTempDirSync();
  try {
    await using server = await metricsServer({ rate: 5, burst: 5, maxLineBytes: 256, dataDir });
    const before = await scrape(server);
    equal(before.get('parley_connections{state="member",transport="tcp"}'), undefined);
    equal(before.get("parley_members"), 0);
    equal(before.get("parley_store_up"), 1);
    await using alice = await connectChat(server.addr);
    await using bob = await connectWsChat(server.httpAddr!);
    await alice.send("hello");
    await alice.send("/join den");
    await alice.nextMatching(/you joined den/);
    await alice.send("in the den");
    await syncWho(alice);
    const after = await scrape(server);
    equal(after.get('parley_connections{state="member",transport="tcp"}'), 1);
    equal(after.get('parley_connections{state="member",transport="ws"}'), 1);
    ok(after.get('parley_connections{state="admitted",transport="all"}')! >= 2);
    equal(after.get('parley_admitted_total{transport="tcp"}'), 1);
    equal(after.get('parley_admitted_total{transport="ws"}'), 1);
    ok(after.get("parley_lines_in_total")! >= 4);
    ok(after.get("parley_lines_out_total")! > before.get("parley_lines_out_total")!);
    equal(after.get("parley_members"), 2);
    equal(after.get("parley_online"), 2);
    equal(after.get("parley_rooms"), 2);
    ok(after.get("parley_history_bytes")! > 0);
    ok(after.get("parley_event_loop_delay_seconds_count")! >= 0);
    ok(after.get('parley_process_memory_bytes{kind="rss"}')! > 0);
    ok(after.get('parley_event_loop_delay_seconds_bucket{le="+Inf"}') !== undefined);
    await untilMetric(server, "parley_store_flushes", (value) => value > 0);
    await untilMetric(server, "parley_event_loop_delay_seconds_count", (value) => value > 0);
    // Flood: a burst of 5, then refused lines.
    await alice.write(utf8("x\n".repeat(12)));
    await alice.nextMatching(/rate limit/);
    ok((await scrape(server)).get('parley_drops_total{reason="flood"}')! > 0);
    // A line over --max-line-bytes.
    bob.send("y".repeat(300));
    await bob.nextMatching(/line too long/);
    equal((await scrape(server)).get('parley_drops_total{reason="line_too_long"}'), 1);
    await bob.ws.close();
    await alice.close();
    await untilMetric(
      server,
      'parley_connections{state="member",transport="ws"}',
      (value) => value === 0,
    );
    equal((await scrape(server)).get("parley_members"), 0);
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("serveChat() /metrics counts refusals by reason, and both endpoints answer on a full server", async () => {
  await using full = await metricsServer({ maxClients: 1 });
  await using _first = await connectChat(full.addr);
  await using second = await LineClient.connect(full.addr);
  deepEqual(await second.untilClosed(), ["! server full (1 clients); try again later"]);
  // The scrape is refused by the limits too, and answered all the same.
  ok((await scrape(full)).get('parley_refused_total{reason="server_full"}')! >= 1);
  equal((await get(full, "/healthz")).status, 200);
  equal((await get(full, "/")).status, 503);
  await using perIp = await metricsServer({ maxPerIp: 1 });
  await using _one = await connectChat(perIp.addr);
  await using two = await LineClient.connect(perIp.addr);
  await two.untilClosed();
  ok((await scrape(perIp)).get('parley_refused_total{reason="per_ip"}')! >= 1);
  equal((await scrape(perIp)).get('parley_refused_total{reason="server_full"}'), undefined);
});

Deno.test("serveChat() /metrics counts idle, ping-timeout and too-slow drops, and the bytes queued to members", async () => {
  await using server = await metricsServer({
    rate: 0,
    maxQueueBytes: 64 * 1024,
    pingInterval: 0.2,
  });
  const port = server.httpAddr!.port;
  await using alice = await connectChat(server.addr);
  // A WebSocket that never answers a ping.
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  await silent.write(utf8(upgradeRequest("/ws", port)));
  await alice.nextMatching(/left \(ping timeout\)/);
  equal((await scrape(server)).get('parley_drops_total{reason="ping_timeout"}'), 1);
  silent.close();
  // A member that never reads while alice talks.
  const carol = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await carol.write(utf8("/nick carol\n"));
  await alice.nextMatching(/carol joined|known as carol/); // a first line /nick names it as it joins
  const padding = "p".repeat(1000);
  let queued = 0;
  for (let batch = 0; batch < 400; batch++) {
    await alice.write(utf8(`${batch} ${padding}\n`.repeat(50)));
    const metrics = await scrape(server);
    queued = Math.max(queued, metrics.get("parley_outbound_queue_bytes")!);
    if (metrics.get('parley_drops_total{reason="too_slow"}') === 1) break;
  }
  equal((await scrape(server)).get('parley_drops_total{reason="too_slow"}'), 1);
  ok(queued > 0, "no bytes were ever seen queued");
  carol.close();
  await using idle = await metricsServer({ idleTimeout: 0.2 });
  await using sleeper = await connectChat(idle.addr);
  await sleeper.untilClosed();
  await untilMetric(idle, 'parley_drops_total{reason="idle"}', (value) => value === 1);
});
