/**
 * The limits a Parley server announces in its welcome (the second welcome
 * line ends `; limits: lines up to 4096 bytes, 10 a second (20 at once)`),
 * so that a client can keep what it sends within them
 * (`client/server_limits.ts`). Pure text.
 *
 * @module
 */

/** What a server takes from one client. */
export interface ServerLimits {
  /** Longest line in bytes (UTF-8, without its ending). */
  maxLineBytes: number;
  /** Lines a second (0 = no limit). */
  rate: number;
  /** Lines at once. */
  burst: number;
}

/**
 * The words of the welcome that announce `limits` (what the hub appends).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { formatLimits } from "./limits_notice.ts";
 *
 * equal(formatLimits({ maxLineBytes: 4096, rate: 10, burst: 20 }),
 *   "limits: lines up to 4096 bytes, 10 a second (20 at once)");
 * equal(formatLimits({ maxLineBytes: 4096, rate: 0, burst: 20 }), "limits: lines up to 4096 bytes");
 * ```
 */
export function formatLimits(limits: ServerLimits): string {
  const rate = limits.rate === 0 ? "" : `, ${limits.rate} a second (${limits.burst} at once)`;
  return `limits: lines up to ${limits.maxLineBytes} bytes${rate}`;
}

const ANNOUNCED =
  /limits: lines up to (\d+) bytes(?:, (\d+(?:\.\d+)?) a second \((\d+) at once\))?$/;

/** The limits a server line announces (the welcome's second line), if it does. */
export function limitsFromNotice(line: string): ServerLimits | undefined {
  if (!line.startsWith("* ")) return undefined;
  const found = ANNOUNCED.exec(line);
  if (found === null) return undefined;
  const maxLineBytes = Number(found[1]);
  const rate = found[2] === undefined ? 0 : Number(found[2]);
  const burst = found[3] === undefined ? 1 : Number(found[3]);
  if (!(maxLineBytes > 0) || !(rate >= 0) || !(burst >= 1)) return undefined;
  return { maxLineBytes, rate, burst };
}
