/**
 * The fan-out part of the report: Parley's chat against the IRC servers
 * people deploy and against the bare Deno loop (tables, chart, targets,
 * and what BENCHMARKS.md says about each server's configuration and about
 * memory). Pure: results in, text out.
 *
 * @module
 */

import type { BenchResults, ScenarioResult, ServerResult } from "./report.ts";

/** What the fan-out tables show. */
export const FANOUT_CAPTION = "p50 / p99 delivery latency (with the share of lines delivered, " +
  "when under 100%, within 3 s of the end of sending), then server CPU per delivery and peak RSS.";

/** The fan-out scenarios, in table order. */
export const FANOUT_IDS = ["chat-10", "chat-40", "chat-80"];

/** The fan-out servers and their column headings. */
export const FANOUT_NAMES: [string, string][] = [
  ["parley", "Parley TCP"],
  ["parley-ws", "Parley WebSocket"],
  ["deno-bare", "bare Deno loop"],
  ["ngircd", "ngIRCd"],
  ["inspircd", "InspIRCd"],
];

function server(scenario: ScenarioResult | undefined, name: string): ServerResult | undefined {
  return scenario?.servers.find((s) => s.name === name && !s.skipped && s.runs.length > 0);
}

const ms = (us: number) => (us / 1000).toFixed(2);
const rate = (id: string) => id.replace("chat-", "");

/**
 * The README's and BENCHMARKS.md's fan-out tables: p50 / p99 per server
 * and load, then server CPU per delivery and peak RSS. Empty when no
 * fan-out scenario ran.
 */
export function fanoutTables(results: BenchResults): string {
  const scenarios = FANOUT_IDS.flatMap((id) => {
    const scenario = results.scenarios.find((s) => s.id === id);
    return scenario ? [scenario] : [];
  });
  if (scenarios.length === 0) return "";
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const table = (head: string[], rows: string[][]) =>
    [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
  const cell = (s: ScenarioResult, name: string, show: (r: ServerResult) => string) => {
    const found = server(s, name);
    if (found) return show(found) + (found.saturated ? "*" : "");
    const skipped = s.servers.find((x) => x.name === name)?.skipped;
    return skipped ? "skipped" : "–";
  };
  const latency = (r: ServerResult) => {
    const { p50_us: p50, p99_us: p99, delivered_ratio: delivered } = r.median;
    const lost = delivered !== undefined && delivered < 1
      ? ` (${(delivered * 100).toFixed(2)}%)`
      : "";
    return p50 === undefined || p99 === undefined ? "–" : `${ms(p50)} / ${ms(p99)} ms${lost}`;
  };
  const number = (field: string, format: (v: number) => string) => (r: ServerResult) =>
    r.median[field] === undefined ? "–" : format(r.median[field]);
  const first = table(
    ["lines/s per client", ...FANOUT_NAMES.map(([, heading]) => `${heading} p50 / p99`)],
    scenarios.map((s) => [rate(s.id), ...FANOUT_NAMES.map(([name]) => cell(s, name, latency))]),
  );
  const cost = table(
    ["lines/s per client", ...FANOUT_NAMES.map(([, heading]) => heading)],
    scenarios.flatMap((s) => [
      [
        `${rate(s.id)}: CPU µs/delivery`,
        ...FANOUT_NAMES.map(([name]) =>
          cell(s, name, number("server_cpu_us_per_op", (v) => v.toFixed(2)))
        ),
      ],
      [
        `${rate(s.id)}: peak RSS MiB`,
        ...FANOUT_NAMES.map(([name]) =>
          cell(s, name, number("server_peak_rss_kib", (v) => (v / 1024).toFixed(1)))
        ),
      ],
    ]),
  );
  return `${first}\n\n${cost}`;
}

const verdict = (met: boolean) => (met ? "**met**" : "**missed**");

/** The issue's fan-out targets, one line each: against InspIRCd, in the same run. */
export function fanoutTargets(results: BenchResults): string[] {
  const lines: string[] = [];
  const get = (id: string, name: string) =>
    server(results.scenarios.find((s) => s.id === id), name);
  for (const id of ["chat-40", "chat-80"]) {
    const parley = get(id, "parley");
    const insp = get(id, "inspircd");
    if (!parley || !insp) continue;
    const [mine, theirs] = [parley.median.p99_us, insp.median.p99_us];
    const delivered = parley.median.delivered_ratio;
    lines.push(
      `- Chat 100×${rate(id)} lines/s, p99 at or under InspIRCd's, 100% delivered: ${
        ms(mine)
      } ms vs ${ms(theirs)} ms, ${(delivered * 100).toFixed(3)}% ${
        verdict(mine <= theirs && delivered >= 1)
      }`,
    );
  }
  const parley10 = get("chat-10", "parley");
  const insp10 = get("chat-10", "inspircd");
  if (parley10 && insp10) {
    const [mine, theirs] = [
      parley10.median.server_cpu_us_per_op,
      insp10.median.server_cpu_us_per_op,
    ];
    if (mine !== undefined && theirs !== undefined) {
      lines.push(
        `- Chat 100×10 lines/s, server CPU per delivery within 1.5× InspIRCd's: ${
          mine.toFixed(2)
        } µs vs ${theirs.toFixed(2)} µs (${(mine / theirs).toFixed(2)}×) ${
          verdict(mine <= 1.5 * theirs)
        }`,
      );
    }
    const bare = get("chat-10", "deno-bare")?.median.server_cpu_us_per_op;
    if (mine !== undefined && bare !== undefined) {
      lines.push(
        `- Chat 100×10 lines/s, for information: the bare Deno loop costs ${
          bare.toFixed(2)
        } µs per delivery, Parley ${(mine / bare).toFixed(2)}× that`,
      );
    }
  }
  return lines;
}

/** What BENCHMARKS.md says about the fan-out servers: each one's configuration, and why. */
export const FANOUT_METHOD = `## Chat fan-out: the servers and their configuration

\`chat-10\`, \`chat-40\` and \`chat-80\` put 100 clients in one room, each sending
a line every 1/RATE s for 2 s (spread evenly over the period), and measure
each line's delay to every other client. One load generator loop drives every
server (\`ws-chat\`: one epoll thread; TCP, IRC or WebSocket clients); every
line carries its send time and sender, and the same bench line is sent to
every server. Three interleaved rounds; the tables show medians.

- **parley** (TCP) and **parley-ws** (the same server, its clients over
  WebSocket at \`/ws\`): \`server.ts --rate 200 --burst 400 --ip-rate 20000
  --ip-burst 40000 --max-per-ip 15000 --history 0 --max-clients 20000\`. Its
  limits stay on, set so nothing throttles 100 clients on one address at 80
  lines/s each (a client may send 200 lines/s, the address 20,000); no
  history, as the IRC servers replay none.
- **ngircd** (ngIRCd from the system's package, \`ngircd -n -f\` on
  \`bench/peers/irc/ngircd.conf\`): \`MaxPenaltyTime = 0\` (by default every
  command delays the client's next by a second of "penalty" once it sends
  faster than that, which would throttle every scenario), \`MaxConnectionsIP
  = 0\` (the default allows 5 connections per address), no DNS, ident or PAM
  lookups (nothing to look up on loopback), long ping timeouts. Everything
  else is the package's default.
- **inspircd** (InspIRCd 3 from the system's package, \`inspircd --nofork\`
  on \`bench/peers/irc/inspircd.conf\`, core modules only): one \`<connect>\`
  class for all, \`commandrate="200000"\` (200 commands/s) with
  \`threshold="200"\` and no fake lag (by default a client is slowed or
  dropped past about 1 command/s), \`localmax\`/\`globalmax\` 20000 (the
  default allows 3 per address), \`softsendq\` 64 KiB (InspIRCd stops
  reading a client whose own send queue is longer; the 8 KiB default is
  under a second of this chat), no DNS or ident lookups.
- **deno-bare** (\`bench/peers/deno/bare_chat.ts\`): the runtime's floor, the
  least a Deno server can do per delivery. Each complete line read goes
  unchanged, in one buffer shared by all, to every other client; one writer
  per client (one write in flight, what queued meanwhile joined into the next
  write), \`TCP_NODELAY\`; no nicks, rooms, parsing, limits or history.
  Whatever Parley costs beyond it is Parley's; what it costs is Deno's.
- The IRC daemons get their configuration filled in (port, directory) in a
  temporary directory, on a free port the runner picked (they cannot listen
  on port 0 and say which); the runner waits until the port accepts. A daemon
  that is not installed is reported as skipped. IRC clients register
  (\`NICK\`/\`USER\`, wait for \`001\`), join \`#room\` (wait for \`366\`),
  answer \`PING\`, and send \`PRIVMSG #room :<bench line>\`; relayed lines
  carry the sender's prefix (\`:b12!b12@127.0.0.1 PRIVMSG #room :…\`), about
  40 bytes more per delivery than Parley's.
- Neither IRC server sets \`TCP_NODELAY\`: their small writes can wait on a
  delayed ACK, which shows in their p50 at low rates. Parley and the bare
  loop set it.
- CPU per delivery is the server's CPU time over the sending window divided
  by the lines delivered: at 10 lines/s the server has headroom and this is
  its cost; at 80 it nears a full core and follows wall time.
`;

/** What BENCHMARKS.md says under the idle tables. */
export const IDLE_NOTES =
  `- RSS per connection: the server's RSS growth once the connections are open
  and greeted, divided by them, as a server left alone has it (no
  collection forced). For the Deno servers (Parley and the bare loop) the run
  also forces a full garbage collection before connecting and after (a
  bench-only preload, \`bench/peers/deno/gc_probe.ts\`, run with
  \`--expose-gc\`: on SIGUSR2 it calls V8's \`gc()\` and writes
  \`Deno.memoryUsage()\`; the server's code is unchanged) and reports the RSS
  growth after it ("after GC", both figures from the collected baseline) and
  the growth of the JavaScript heap's live bytes, heap used plus external
  ("live JS heap"), and of the heap V8 keeps after the collection, live or
  free for reuse ("V8 heap kept", \`heapTotal\`). RSS beyond the V8 heap is
  native memory: the runtime's per-connection state (Rust side) and
  allocator slack, which no JavaScript collection returns.
- The runtime's floor: the bare Deno loop's baseline RSS is what a Deno TCP
  server costs before its first client, and its per-connection figures are
  what Deno itself costs per open connection (a Deno \`TcpConn\`, its
  resource and a pending read).
`;

/** Bar colours of the fan-out chart, by server. */
const COLOURS: Record<string, string> = {
  parley: "#2b8a3e",
  "parley-ws": "#69db7c",
  "deno-bare": "#868e96",
  ngircd: "#1c7ed6",
  inspircd: "#e8590c",
};

/**
 * An SVG chart of the fan-out scenarios: p99 per server and load (lower is
 * better), a thin bar for p50 beside it. Undefined when none ran.
 */
export function fanoutChartSvg(results: BenchResults): string | undefined {
  const scenarios = FANOUT_IDS.flatMap((id) => {
    const scenario = results.scenarios.find((s) => s.id === id);
    return scenario ? [scenario] : [];
  });
  if (scenarios.length === 0) return undefined;
  const left = 150;
  const width = 820;
  const barArea = width - left - 190;
  const rowHeight = 18 + FANOUT_NAMES.length * 16;
  const height = 60 + scenarios.length * rowHeight + 20;
  const p99s = scenarios.flatMap((s) =>
    FANOUT_NAMES.flatMap(([name]) => {
      const value = server(s, name)?.median.p99_us;
      return value === undefined ? [] : [value];
    })
  );
  // Bars stop at 50 ms so one collapse does not flatten the rest; labels keep the real value.
  const top = Math.min(50_000, Math.max(1000, ...p99s));
  const x = (us: number) => left + (Math.min(us, top) / top) * barArea;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Chat fan-out, 100 clients in one room: p99 (bar) and p50 (line), lower is better</text>`,
  ];
  FANOUT_NAMES.forEach(([name, heading], i) => {
    parts.push(
      `<rect x="${10 + i * 140}" y="32" width="12" height="12" fill="${COLOURS[name]}"/>`,
      `<text x="${10 + i * 140 + 16}" y="42">${heading}</text>`,
    );
  });
  scenarios.forEach((scenario, row) => {
    const y0 = 60 + row * rowHeight;
    parts.push(
      `<text x="${left - 8}" y="${y0 + rowHeight / 2}" text-anchor="end">${
        rate(scenario.id)
      } lines/s each</text>`,
    );
    FANOUT_NAMES.forEach(([name], i) => {
      const found = server(scenario, name);
      const y = y0 + i * 16;
      if (!found || found.median.p99_us === undefined) return;
      const { p50_us: p50, p99_us: p99 } = found.median;
      parts.push(
        `<rect x="${left}" y="${y}" width="${(x(p99) - left).toFixed(1)}" height="12" fill="${
          COLOURS[name]
        }"/>`,
      );
      if (p50 !== undefined) {
        parts.push(
          `<rect x="${left}" y="${y + 13}" width="${
            (x(p50) - left).toFixed(1)
          }" height="2" fill="#333"/>`,
        );
      }
      parts.push(
        `<text x="${(x(p99) + 4).toFixed(1)}" y="${y + 10}">${ms(p99)} ms${
          p50 === undefined ? "" : ` (p50 ${ms(p50)})`
        }${found.saturated ? "*" : ""}</text>`,
      );
    });
  });
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}
