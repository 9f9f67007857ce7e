/**
 * What the runner reads around a load generator run besides its result:
 * Redis's command count (`INFO stats`, a raw RESP request, no client
 * library) and the CPU and peak RSS of a server's whole process tree
 * (`/proc`). The parsers are pure; the readers do the I/O.
 *
 * @module
 */

/** A field of an `INFO` reply (`name:value` lines) as a number; undefined if absent. */
export function infoField(info: string, name: string): number | undefined {
  const match = new RegExp(`^${name}:(\\d+(?:\\.\\d+)?)\\r?$`, "m").exec(info);
  return match ? Number(match[1]) : undefined;
}

/**
 * The text of a complete RESP bulk-string reply (`$LEN\r\n…\r\n`), or
 * undefined while more bytes are due. An error reply (`-ERR …`) throws.
 */
export function bulkReply(bytes: Uint8Array): string | undefined {
  const head = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 32)));
  if (head.startsWith("-")) throw new Error(`redis: ${head.split("\r\n")[0].slice(1)}`);
  const end = head.indexOf("\r\n");
  if (end < 0) return undefined;
  if (!head.startsWith("$")) throw new Error(`redis: unexpected reply ${head.slice(0, end)}`);
  const length = Number(head.slice(1, end));
  const start = end + 2;
  if (bytes.length < start + length + 2) return undefined;
  return new TextDecoder().decode(bytes.subarray(start, start + length));
}

/** The Redis servers of a `redis=` URL list (a Redis Cluster's masters: several, comma-separated). */
export function redisUrls(urls: string): string[] {
  return urls.split(",").map((url) => url.trim()).filter((url) => url !== "");
}

/**
 * Redis's `total_commands_processed` (`INFO stats`), summed over the
 * servers of `urls` (see {@linkcode redisUrls}). Commands a Lua script runs
 * count one each, as does the script's `EVAL`; the `INFO` asking is
 * counted by the next one (one per server).
 */
export async function redisCommands(urls: string): Promise<number> {
  const counts = await Promise.all(redisUrls(urls).map(redisCommandsAt));
  return counts.reduce((sum, count) => sum + count, 0);
}

/** Redis's `total_commands_processed` at one `redis://HOST:PORT`. */
async function redisCommandsAt(url: string): Promise<number> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port || 6379) });
  try {
    await conn.write(new TextEncoder().encode("INFO stats\r\n"));
    let bytes = new Uint8Array(0);
    const chunk = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("redis: connection closed before the INFO reply");
      const joined = new Uint8Array(bytes.length + n);
      joined.set(bytes);
      joined.set(chunk.subarray(0, n), bytes.length);
      bytes = joined;
      const info = bulkReply(bytes);
      if (info === undefined) continue;
      const count = infoField(info, "total_commands_processed");
      if (count === undefined) throw new Error("redis: INFO stats has no total_commands_processed");
      return count;
    }
  } finally {
    conn.close();
  }
}

/**
 * Reads Redis's command count until it stops moving (the servers are done
 * with what the load generator left them: the clients' leaves), for at
 * most `ms`: quiet is two reads `gapMs` apart that differ only by the
 * first `INFO`. The count returned leaves out the `INFO`s asked here.
 */
export async function settledRedisCommands(url: string, ms = 3000, gapMs = 250): Promise<number> {
  const deadline = Date.now() + ms;
  const servers = redisUrls(url).length;
  let last = await redisCommands(url);
  for (let asked = 1;; asked++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    const now = await redisCommands(url);
    if (now - last <= servers || Date.now() >= deadline) return now - asked * servers;
    last = now;
  }
}

/** One process from `/proc/PID/stat`. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** User plus system CPU time, in clock ticks. */
  ticks: number;
}

/** Parses `/proc/PID/stat` (the name, in parentheses, may hold spaces). */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  const pid = Number.parseInt(text, 10);
  if (close < 0 || !Number.isInteger(pid)) return undefined;
  // After the name: state (field 3), ppid (4), …, utime (14), stime (15).
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ppid) || !Number.isFinite(ticks)) return undefined;
  return { pid, ppid, ticks };
}

/** `root` and its descendants among `table`, root first. */
export function processTree(root: number, table: readonly ProcStat[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const proc of table) {
    const siblings = children.get(proc.ppid);
    if (siblings === undefined) children.set(proc.ppid, [proc]);
    else siblings.push(proc);
  }
  const self = table.find((proc) => proc.pid === root);
  if (self === undefined) return [];
  const tree = [self];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i].pid) ?? []));
  return tree;
}

/** Every process's `/proc/PID/stat` now (processes that go away meanwhile are left out). */
async function procTable(): Promise<ProcStat[]> {
  const table: ProcStat[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = parseProcStat(await Deno.readTextFile(`/proc/${entry.name}/stat`));
      if (stat) table.push(stat);
    } catch { /* gone */ }
  }
  return table;
}

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux nearly always). */
let clockTicks: number | undefined;
async function ticksPerSecond(): Promise<number> {
  if (clockTicks === undefined) {
    try {
      const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
        .output();
      clockTicks = Number(new TextDecoder().decode(out.stdout).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** A server's process tree at one moment. */
export interface TreeSample {
  pids: number[];
  /** CPU time used so far by the processes alive now, in microseconds. */
  cpuUs: number;
}

/** The CPU time of `root` and its descendants now. */
export async function sampleTree(root: number): Promise<TreeSample> {
  const tree = processTree(root, await procTable());
  const ticks = tree.reduce((sum, proc) => sum + proc.ticks, 0);
  return { pids: tree.map((proc) => proc.pid), cpuUs: ticks * 1e6 / await ticksPerSecond() };
}

/** The sum of the peak RSS (`VmHWM`, KiB) of `pids`. */
export async function peakRssKib(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      total += Number(/^VmHWM:\s*(\d+)/m.exec(status)?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return total;
}
