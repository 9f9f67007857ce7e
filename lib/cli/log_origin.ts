/**
 * Who writes a program's log lines: its process id, the host's name and,
 * on a cluster node, the node id (see `support/log.ts`).
 *
 * @module
 */

import type { LogOrigin } from "../support/log.ts";

/**
 * The pid, the host name (needs `--allow-sys=hostname`, as the tasks grant;
 * left out where it is not granted) and `node` when given.
 */
export function logOrigin(node?: string): LogOrigin {
  let hostname: string | undefined;
  try {
    hostname = Deno.hostname();
  } catch { /* not granted: the lines go without it */ }
  return { pid: Deno.pid, ...(hostname ? { hostname } : {}), ...(node ? { node } : {}) };
}
