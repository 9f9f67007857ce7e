/**
 * What BENCHMARKS.md says under a scenario's table, by scenario id: the
 * setup and the figures measured once by hand (kept here so that
 * regenerating the file keeps them).
 *
 * @module
 */

import { IDLE_NOTES } from "./fanout_report.ts";

/** What a scenario's table needs said under it, by scenario id (Markdown). */
export const SCENARIO_NOTES: Record<string, string> = {
  "ws-echo-64": `- This scenario's figures come from \`deno task bench ws-echo-64\` with 5
  repetitions, run right after the full run and merged into
  \`bench/results/latest.json\`. The full run had 3 repetitions here: Parley 0.89×
  Go's messages a second and 1.14× its CPU per message, with Go's load generator
  saturated in 2 of its 3 runs. Run to run, each server swings about ±10% on this
  machine.
`,
  "idle-1k": IDLE_NOTES,
  "idle-10k": IDLE_NOTES,
  "chat-cluster": `- The chat-40 load (100 clients in one room, 40 lines/s each) against
  single-process Parley and against \`scripts/cluster.ts 2\`: a throwaway
  redis-server and two \`server.ts\` nodes sharing it (\`--redis\`,
  \`--reuse-port\`: the kernel spreads the clients, about half on each node),
  with the same flags. Every line goes through Redis, to members on the
  sender's node too.
- Redis, both nodes and the launcher share core 0, as the single process has it
  alone: **this measures what the cluster costs on one core, not how it
  scales** (see below).
- Peak RSS is the sum of each of a server's processes' peak. CPU per delivery
  is left out: core 0 is about saturated at this load either way, so it
  follows wall time and the cost shows as latency (the runner still records
  \`tree_cpu_us_per_delivery\`, all processes over the whole load generator
  run). "vs parley" is the single process's p99 divided by this one's.
- Redis ops/line: the growth of Redis's \`total_commands_processed\` (\`INFO
  stats\`, less the \`INFO\`s themselves) divided by the lines sent. A script's
  \`EVAL\` and each command it runs count one each, so a chat line should be 5
  (\`EVAL\` of \`GET\`, \`INCR\`, \`XADD\`, \`PUBLISH\`). "Redis ops/line" is
  read by the load generator from just before the first line to the end of the
  drain; it includes the nodes' heartbeats (about 5 commands per node every
  2 s), which are small next to thousands of lines. "… with joins, leaves" is
  read by the runner just before the load generator starts and after it exits
  and Redis is quiet: it adds the 100 clients' joins and leaves (several
  scripts each, tens of commands per client), which weigh more the shorter the
  run.

#### How it scales (expected; estimates, not measured here)

Each chat line costs Redis one Lua script (\`INCR\` + \`XADD\` + \`PUBLISH\`, and
a \`GET\` of the room's epoch) and one pub/sub delivery per node with members
in the room; each node then writes the line to its own members. That last part,
one write per member, is the dominant cost and is split over the nodes: N nodes
on N cores should carry about N times the members of one room that one process
can, at the same line rate. Redis's work per line grows with nodes, not members
(O(nodes) per line), on one thread: for a busy room it becomes the bound at
roughly its publish rate divided by the nodes in the room. As an
order-of-magnitude estimate, ~100k pub/sub deliveries/s per Redis core, less
the script's own cost: some tens of thousands of lines/s in a room over a few
nodes, a few thousand over tens of nodes, for all rooms on that Redis together.
Rooms are independent (a room's events touch only its own keys and channel), so
they could later be spread over several Redis servers; a Redis Cluster would
need \`{room}\` hash tags on the per-room keys and sharded pub/sub
(\`SPUBLISH\`: plain \`PUBLISH\` reaches every Redis Cluster node); Parley has
both (\`--redis-cluster\`, below). Across machines, every line also waits for one round trip to Redis and
its push back (roughly 0.1–0.3 ms on a LAN, an estimate) before anyone sees it.

#### On a Redis Cluster (\`parley×2 on 3 shards\`, and \`chat-cluster-rooms\`)

\`chat-cluster\` also runs the nodes on a throwaway Redis Cluster of 3 masters (no replicas:
\`scripts/cluster.ts 2 --redis-shards 3\`), and \`chat-cluster-rooms\` spreads the same load over 12
rooms (\`--rooms 12\`: 100 clients, about 8 per room) on one Redis and on the 3 shards. Measured on
the 2-core development machine while other test suites ran (load average about 8): the latencies
below are not comparable with the table above, only with each other; delivery and command counts are
exact.

| scenario                        | Redis     | delivered | Redis ops/line | … with joins, leaves | commands per master (of the lines' run)    |
| ------------------------------- | --------- | --------- | -------------- | -------------------- | ------------------------------------------ |
| \`chat-cluster\` (1 room)         | one Redis | 100.00%   | 5.00           | 5.45                 | –                                          |
| \`chat-cluster\` (1 room)         | 3 shards  | 100.00%   | 5.00           | 5.45                 | 6 / 40,012 / 3 (one room: one shard)       |
| \`chat-cluster-rooms\` (12 rooms) | one Redis | 100.00%   | 5.00           | 5.82                 | –                                          |
| \`chat-cluster-rooms\` (12 rooms) | 3 shards  | 100.00%   | 5.00           | 5.81                 | 13,200 / 16,412 / 10,440 (33% / 41% / 26%) |

A chat line costs 5 commands on one Redis and on a cluster alike (the room's epoch doubles as the
check that the room still exists). One room lives on one shard: a cluster does not carry a busier
room than one Redis does, it carries more rooms (each master takes the rooms whose slots it holds,
spread by the hash of their names: 12 rooms gave a 33/41/26 split). What one Redis carries, all its
rooms together, a cluster of M masters carries about M times, as long as no single room outgrows one
master. Joins and leaves take a few more commands than when each was one script over several slots
(a member's node record and the rooms' list are now separate steps on their own slots): 5.45
commands per line with joins and leaves against 5.43 before.
`,
  "chat-40-store":
    `- The chat-40 load with \`--history 20\` (chat-40 runs with history off): \`parley\` keeps history in
  memory only (\`--no-store\`), \`parley+store\` also in the store, in a fresh data directory each start
  (\`--data-dir bench/target/parley-data\`). Three repetitions each, interleaved, on a quiet machine:
  the store's p99 (22 ms vs 27 ms), delivery (100% both) and CPU per delivery (equal) are within the
  noise of the memory-only run. The store's work is a transaction every 100 ms, 2.6–2.9 ms for 400
  lines (see the README, "The store").
`,
};
