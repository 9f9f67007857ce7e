/**
 * The UDP echo client's requests and statistics, pure.
 *
 * Every request datagram starts with a 16-byte header, so any RFC 862 echo
 * server (which returns datagrams unchanged) hands back something the
 * client can match to its request:
 *
 * | bytes | field                                                   |
 * | ----- | ------------------------------------------------------- |
 * | 0–3   | magic `PRLY`                                            |
 * | 4–7   | session id: random per client run (tells apart clients) |
 * | 8–11  | sequence number, big-endian                             |
 * | 12–15 | attempt number, big-endian (0 first, then retries)      |
 *
 * then the payload: the message, or in ping mode a pattern derived from the
 * sequence number. A reply is compared byte for byte with what was sent
 * (attempt field aside), so a changed payload is reported as corrupt, a
 * reply for an earlier sequence number as late, and a second reply for the
 * same one as a duplicate.
 *
 * @module
 */

/** Size of the request header. */
export const PROBE_HEADER_BYTES = 16;
const MAGIC = [0x50, 0x52, 0x4c, 0x59]; // "PRLY"

/** What a received datagram is, relative to the request being waited for. */
export type ReplyVerdict =
  | { kind: "reply"; attempt: number }
  | { kind: "corrupt"; sequence: number }
  | { kind: "late"; sequence: number }
  | { kind: "duplicate"; sequence: number }
  | { kind: "stray" };

/**
 * Builds a request datagram.
 *
 * @param payload the message, or undefined for ping mode
 * @param size total datagram size in ping mode (at least the header)
 */
export function buildRequest(
  session: number,
  sequence: number,
  payload: Uint8Array | undefined,
  size: number = PROBE_HEADER_BYTES,
): Uint8Array {
  const length = payload === undefined
    ? Math.max(size, PROBE_HEADER_BYTES)
    : PROBE_HEADER_BYTES + payload.length;
  const bytes = new Uint8Array(length);
  bytes.set(MAGIC, 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, session);
  view.setUint32(8, sequence);
  if (payload !== undefined) {
    bytes.set(payload, PROBE_HEADER_BYTES);
  } else {
    for (let i = PROBE_HEADER_BYTES; i < length; i++) bytes[i] = (sequence * 31 + i) & 0xff;
  }
  return bytes;
}

/** Sets the attempt field of a request (in place). */
export function setAttempt(request: Uint8Array, attempt: number): void {
  new DataView(request.buffer, request.byteOffset).setUint32(12, attempt);
}

/**
 * Classifies a received datagram while waiting for `request` (sequence
 * `sequence`); `answered` holds the sequence numbers already answered.
 */
export function classifyReply(
  reply: Uint8Array,
  request: Uint8Array,
  session: number,
  sequence: number,
  answered: ReadonlySet<number>,
): ReplyVerdict {
  if (reply.length < PROBE_HEADER_BYTES || MAGIC.some((byte, i) => reply[i] !== byte)) {
    return { kind: "stray" };
  }
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  if (view.getUint32(4) !== session) return { kind: "stray" };
  const replySequence = view.getUint32(8);
  if (replySequence !== sequence) {
    return answered.has(replySequence)
      ? { kind: "duplicate", sequence: replySequence }
      : { kind: "late", sequence: replySequence };
  }
  if (answered.has(sequence)) return { kind: "duplicate", sequence };
  const same = reply.length === request.length &&
    reply.every((byte, i) => (i >= 12 && i < 16) || byte === request[i]);
  return same ? { kind: "reply", attempt: view.getUint32(12) } : { kind: "corrupt", sequence };
}

/** The payload of a reply (after the header). */
export function replyPayload(reply: Uint8Array): Uint8Array {
  return reply.subarray(PROBE_HEADER_BYTES);
}

/** Counts and round-trip times of a run. */
export interface ProbeStats {
  sent: number;
  received: number;
  corrupt: number;
  late: number;
  duplicate: number;
  /** Round-trip times of good replies, in milliseconds. */
  rtts: number[];
}

/** A fresh, empty {@linkcode ProbeStats}. */
export function emptyStats(): ProbeStats {
  return { sent: 0, received: 0, corrupt: 0, late: 0, duplicate: 0, rtts: [] };
}

/** The `p`-th percentile (0–100) of `values` by nearest rank; NaN if empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Requests that got no good reply. */
export function lostCount(stats: ProbeStats): number {
  return stats.sent - stats.received;
}

/**
 * The summary lines, like ping's:
 *
 * ```
 * --- 127.0.0.1:7879 udp echo statistics ---
 * 10 sent, 9 received, 1 lost (10.0%), 0 corrupt, 0 late, 0 duplicate
 * rtt min/avg/max/p99 = 0.081/0.132/0.410/0.410 ms
 * ```
 */
export function formatSummary(target: string, stats: ProbeStats): string[] {
  const lost = lostCount(stats);
  const lostPercent = stats.sent === 0 ? 0 : (100 * lost) / stats.sent;
  const lines = [
    `--- ${target} udp echo statistics ---`,
    `${stats.sent} sent, ${stats.received} received, ${lost} lost (${lostPercent.toFixed(1)}%), ` +
    `${stats.corrupt} corrupt, ${stats.late} late, ${stats.duplicate} duplicate`,
  ];
  if (stats.rtts.length > 0) {
    const sum = stats.rtts.reduce((a, b) => a + b, 0);
    const figures = [
      Math.min(...stats.rtts),
      sum / stats.rtts.length,
      Math.max(...stats.rtts),
      percentile(stats.rtts, 99),
    ];
    lines.push(`rtt min/avg/max/p99 = ${figures.map((ms) => ms.toFixed(3)).join("/")} ms`);
  }
  return lines;
}
