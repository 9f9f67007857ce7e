/**
 * The issue's targets, checked against a run's results: one line each,
 * saying plainly whether it was met.
 *
 * @module
 */

import { fanoutTargets } from "./fanout_report.ts";
import { type BenchResults, ratioToGo, type ScenarioResult, type ServerResult } from "./report.ts";

function find(
  results: BenchResults,
  id: string,
  name: string,
): [ScenarioResult, ServerResult] | undefined {
  const scenario = results.scenarios.find((s) => s.id === id);
  const server = scenario?.servers.find((s) => s.name === name && !s.skipped && s.runs.length > 0);
  return scenario && server ? [scenario, server] : undefined;
}

function verdict(met: boolean): string {
  return met ? "**met**" : "**missed**";
}

const ms = (us: number) => `${(us / 1000).toFixed(2)} ms`;

/** A WebSocket chat scenario's three targets: all delivered, p99 under 10 ms, ahead of the peers. */
function chatTargets(results: BenchResults, id: string, what: string): string[] {
  const parley = find(results, id, "parley")?.[1];
  if (!parley) return [];
  const delivered = parley.median.delivered_ratio;
  const p99 = parley.median.p99_us;
  const peers = ["go", "node"].flatMap((name) => {
    const peer = find(results, id, name)?.[1];
    return peer && peer.median.p99_us !== undefined ? [[name, peer.median.p99_us] as const] : [];
  });
  const ahead = peers.length > 0 && peers.every(([, theirs]) => p99 < theirs);
  const against = peers.length > 0
    ? peers.map(([name, theirs]) => `${name} ${ms(theirs)}`).join(", ")
    : "no peer ran";
  return [
    `- ${what}, 100% delivered: ${(delivered * 100).toFixed(3)}% ${verdict(delivered >= 1)}`,
    `- ${what}, p99 under 10 ms: ${ms(p99)} ${verdict(p99 < 10_000)}`,
    `- ${what}, p99 ahead of the Go and Node peers: ${ms(p99)} vs ${against} ${verdict(ahead)}`,
  ];
}

/**
 * `chat-cluster`: everything delivered (a target), and the cluster's p99
 * and Redis commands per line next to the single process (information: on
 * one core the cluster can only cost).
 */
function clusterTargets(results: BenchResults): string[] {
  const scenario = results.scenarios.find((s) => s.id === "chat-cluster");
  const name = scenario?.servers.find((s) => s.name !== "parley")?.name;
  const cluster = name === undefined ? undefined : find(results, "chat-cluster", name)?.[1];
  if (!cluster) return [];
  const nodes = /×(\d+)$/.exec(cluster.name)?.[1] ?? "several";
  const what = `Chat 100×40 lines/s over ${nodes} nodes + Redis on one core`;
  const delivered = cluster.median.delivered_ratio;
  const p99 = cluster.median.p99_us;
  const single = find(results, "chat-cluster", "parley")?.[1].median.p99_us;
  const ops = cluster.median.redis_ops_per_line;
  const versus = single === undefined || single === 0
    ? "no single-process result"
    : `p99 ${(p99 / single).toFixed(1)}× the single process (${ms(p99)} vs ${ms(single)})`;
  return [
    `- ${what}, 100% delivered: ${(delivered * 100).toFixed(3)}% ${verdict(delivered >= 1)}`,
    `- ${what}, for information: ${versus}${
      ops === undefined ? "" : `; ${ops.toFixed(2)} Redis commands per line`
    }`,
  ];
}

/** TLS echo and handshake rate against Go's crypto/tls: the aim is 1.0×, with server CPU per op beside. */
function tlsTargets(results: BenchResults): string[] {
  const scenarios = [
    ["tls-echo-64", "TLS echo 50×64 B", "request"],
    ["tls-handshake", "TLS handshakes per second", "connection"],
  ] as const;
  return scenarios.flatMap(([id, what, op]) => {
    const parley = find(results, id, "parley");
    if (!parley) return [];
    const ratio = ratioToGo(...parley);
    const go = find(results, id, "go")?.[1];
    const cpu = parley[1].median.server_cpu_us_per_op;
    const goCpu = go?.median.server_cpu_us_per_op;
    const cpuText = goCpu === undefined
      ? ""
      : `; server CPU per ${op} ${cpu.toFixed(1)} µs vs Go's ${goCpu.toFixed(1)} µs`;
    return [
      `- ${what}, aim 1.0× Go (crypto/tls): ${
        Number.isNaN(ratio) ? "no Go result" : `${ratio.toFixed(2)}×`
      } ${verdict(ratio >= 1)}${cpuText}${
        go?.saturated ? " (the load generator was saturated by Go)" : ""
      }`,
    ];
  });
}

/** One Markdown bullet per target: what it asks, what was measured, met or missed. */
export function targetLines(results: BenchResults): string[] {
  const lines: string[] = [];
  const echo = find(results, "echo-64", "parley");
  if (echo) {
    const [scenario, parley] = echo;
    const go = find(results, "echo-64", "go")?.[1];
    const node = find(results, "echo-64", "node")?.[1];
    const vsGo = ratioToGo(scenario, parley);
    const vsNode = node ? parley.median.ops_per_sec / node.median.ops_per_sec : NaN;
    const cpu = parley.median.server_cpu_us_per_op;
    const goCpu = go?.median.server_cpu_us_per_op ?? NaN;
    lines.push(
      `- TCP echo 50×64 B, at least 1.0× Go: ${vsGo.toFixed(2)}× ${verdict(vsGo >= 1)}` +
        `${go?.saturated ? " (the load generator was saturated by Go)" : ""}`,
      `- TCP echo 50×64 B, at least 1.2× Node: ${vsNode.toFixed(2)}× ${verdict(vsNode >= 1.2)}`,
      `- TCP echo server CPU per request no higher than Go's: ${cpu.toFixed(2)} µs vs ${
        goCpu.toFixed(2)
      } µs ${verdict(cpu <= goCpu)}`,
    );
  }
  const udp = find(results, "udp-64", "parley");
  if (udp) {
    const ratio = ratioToGo(...udp);
    lines.push(`- UDP echo, at least 0.8× Go: ${ratio.toFixed(2)}× ${verdict(ratio >= 0.8)}`);
  }
  const chat = find(results, "chat-40", "parley");
  if (chat) {
    const [, parley] = chat;
    const delivered = parley.median.delivered_ratio;
    const p99 = parley.median.p99_us / 1000;
    lines.push(
      `- Chat 100×40 lines/s, 100% delivered: ${(delivered * 100).toFixed(3)}% ${
        verdict(delivered >= 1)
      }`,
      `- Chat 100×40 lines/s, p99 under 10 ms: ${p99.toFixed(2)} ms ${verdict(p99 < 10)}`,
    );
  }
  lines.push(...fanoutTargets(results));
  lines.push(...clusterTargets(results));
  const wsEcho = find(results, "ws-echo-64", "parley");
  if (wsEcho) {
    const cpuRatio = (mine: ServerResult, theirs?: ServerResult) =>
      (mine.median.server_cpu_us_per_op ?? NaN) / (theirs?.median.server_cpu_us_per_op ?? NaN);
    const cpuText = (mine: ServerResult, theirs?: ServerResult) => {
      const ratio = cpuRatio(mine, theirs);
      return Number.isNaN(ratio)
        ? "per message not measured"
        : `${mine.median.server_cpu_us_per_op.toFixed(2)} vs ${
          theirs!.median.server_cpu_us_per_op.toFixed(2)
        } µs per message (${ratio.toFixed(2)}×)`;
    };
    const [scenario, parley] = wsEcho;
    const go = find(results, "ws-echo-64", "go")?.[1];
    const node = find(results, "ws-echo-64", "node")?.[1];
    const vsGo = ratioToGo(scenario, parley);
    const vsNode = node ? parley.median.ops_per_sec / node.median.ops_per_sec : NaN;
    const times = (ratio: number, peer: string) =>
      Number.isNaN(ratio) ? `no ${peer} result` : `${ratio.toFixed(2)}×`;
    lines.push(
      `- WebSocket echo 50×64 B, at least 1.0× Node + ws: ${times(vsNode, "Node")} ${
        verdict(vsNode >= 1)
      }`,
      // Issue 16: at Go's level in messages per second and in server CPU per message.
      `- WebSocket echo 50×64 B, at least 1.0× Go (gorilla/websocket) in ops/s and CPU per message: ${
        times(vsGo, "Go")
      }, CPU ${cpuText(parley, go)} ${verdict(vsGo >= 1 && cpuRatio(parley, go) <= 1)}${
        go?.saturated ? " (the load generator was saturated by Go)" : ""
      }`,
    );
  }
  lines.push(...tlsTargets(results));
  lines.push(
    ...chatTargets(results, "chat-ws-40", "WebSocket chat 100×40 lines/s"),
    ...chatTargets(results, "chat-mixed-40", "Mixed chat 50 TCP + 50 WebSocket ×40 lines/s"),
  );
  const slow = find(results, "slow-reader", "parley");
  if (slow) {
    const [, parley] = slow;
    const growth = parley.median.rss_growth_mib;
    const delivered = parley.median.delivered_ratio;
    lines.push(
      `- Slow reader, RSS flat within 20 MB: grew ${growth.toFixed(1)} MiB ${
        verdict(growth <= 20)
      }`,
      `- Slow reader, the other clients lose nothing: ${(delivered * 100).toFixed(3)}% delivered ${
        verdict(delivered >= 1)
      }`,
    );
  }
  const idle = find(results, "idle-10k", "parley");
  if (idle) {
    const [, parley] = idle;
    const kib = parley.median.bytes_per_conn / 1024;
    const all = parley.median.connected === 10_000;
    lines.push(
      `- 10,000 idle clients under 10 KiB RSS each: ${kib.toFixed(1)} KiB${
        all ? "" : ` (only ${parley.median.connected} connected)`
      } ${verdict(all && kib < 10)}`,
    );
  }
  return lines;
}
