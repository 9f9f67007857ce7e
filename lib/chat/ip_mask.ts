/**
 * IP addresses and prefixes (`203.0.113.7`, `203.0.113.0/24`,
 * `2001:db8::/32`) as ban masks: parsed, written in one canonical form,
 * and matched against a client's address. Pure.
 *
 * @module
 */

/** A parsed address prefix. */
export interface IpMask {
  /** `4` or `6`. */
  readonly family: 4 | 6;
  /** The network, host bits cleared. */
  readonly network: bigint;
  /** Leading bits that must match (32 or 128: one address). */
  readonly prefix: number;
  /** Canonical text: `203.0.113.0/24`, `2001:db8::/32`, `198.51.100.7/32`. */
  readonly text: string;
}

function parseV4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return null;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

function parseV6(text: string): bigint | null {
  let groups: string[];
  let tail: bigint | null = null;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) { // an IPv4 tail: ::ffff:192.0.2.1
    tail = parseV4(text.slice(lastColon + 1));
    if (tail === null) return null;
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const split = (half: string) => half === "" ? [] : half.split(":");
  if (halves.length === 2) {
    const [head, rest] = [split(halves[0]), split(halves[1])];
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return null;
    groups = [...head, ...Array(missing).fill("0"), ...rest];
  } else groups = split(text);
  if (groups.length !== 8) return null;
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tail !== null) value = (value & ~0xffffffffn) | tail;
  return value;
}

/** A client address as family and value; IPv4-mapped IPv6 counts as IPv4. Null: not an address. */
export function parseAddress(text: string): { family: 4 | 6; value: bigint } | null {
  const v4 = parseV4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = text.includes(":") ? parseV6(text.replace(/%.*$/, "")) : null;
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

function formatV6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // The longest run of two or more zero groups becomes "::".
  let best = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

/**
 * Parses `ADDRESS` or `ADDRESS/PREFIX`; null when it is not one (a nick,
 * say). Host bits below the prefix are cleared.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { maskMatches, parseMask } from "./ip_mask.ts";
 *
 * equal(parseMask("203.0.113.9/24")?.text, "203.0.113.0/24");
 * equal(parseMask("2001:DB8:0:0::1")?.text, "2001:db8::1/128");
 * equal(maskMatches(parseMask("203.0.113.0/24")!, "203.0.113.200"), true);
 * equal(parseMask("alice"), null);
 * ```
 */
export function parseMask(text: string): IpMask | null {
  const slash = text.indexOf("/");
  const address = parseAddress(slash === -1 ? text : text.slice(0, slash));
  if (address === null) return null;
  const bits = address.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const given = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(given) || Number(given) > bits) return null;
    prefix = Number(given);
  }
  const hostBits = BigInt(bits - prefix);
  const network = (address.value >> hostBits) << hostBits;
  const shown = address.family === 4
    ? [24n, 16n, 8n, 0n].map((shift) => String((network >> shift) & 0xffn)).join(".")
    : formatV6(network);
  return { family: address.family, network, prefix, text: `${shown}/${prefix}` };
}

/** True when the client address `ip` lies in `mask`. */
export function maskMatches(mask: IpMask, ip: string): boolean {
  const address = parseAddress(ip);
  if (address === null || address.family !== mask.family) return false;
  const hostBits = BigInt((mask.family === 4 ? 32 : 128) - mask.prefix);
  return (address.value >> hostBits) << hostBits === mask.network;
}
