/**
 * How the client reaches a server, whatever it speaks (TCP, TLS,
 * WebSocket): which addresses to try for a host name, when to try the next
 * one, how a failure reads, and the host and port of a URL.
 *
 * @module
 */

import { connectionProblem } from "../net/conn.ts";

/**
 * The addresses to try for `hostname`, in order: `localhost` is 127.0.0.1
 * and then ::1 (a server may listen on either); any other name is tried
 * as it is (the resolver picks).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { candidateHosts } from "./endpoint.ts";
 *
 * deepEqual(candidateHosts("localhost"), ["127.0.0.1", "::1"]);
 * deepEqual(candidateHosts("chat.example"), ["chat.example"]);
 * ```
 */
export function candidateHosts(hostname: string): string[] {
  return hostname === "localhost" ? ["127.0.0.1", "::1"] : [hostname];
}

/** An attempt gave up at the connect timeout. */
export class ConnectTimeout extends Error {
  constructor() {
    super("timed out");
  }
}

/** Failures after which the next address is worth trying: nothing answered at this one. */
const TRY_NEXT = new Set(["ECONNREFUSED", "EADDRNOTAVAIL", "ENETUNREACH", "EHOSTUNREACH"]);

/** Whether, after `error`, the next candidate address is worth trying. */
export function tryNextHost(error: unknown): boolean {
  return error instanceof ConnectTimeout || TRY_NEXT.has(errorCode(error));
}

/**
 * Runs `attempt` on each host in turn until one succeeds; a failure that
 * {@linkcode tryNextHost} does not excuse stops there. When all fail,
 * throws the first failure: with ::1 missing, its error would say less
 * than 127.0.0.1's.
 */
export async function connectFirst<T>(
  hosts: readonly string[],
  attempt: (host: string) => Promise<T>,
): Promise<T> {
  let first: unknown;
  for (const host of hosts) {
    try {
      return await attempt(host);
    } catch (error) {
      first ??= error;
      if (!tryNextHost(error)) break;
    }
  }
  throw first;
}

/**
 * Why a connection attempt failed, in a few words: `connection refused`,
 * `host not found`, `network unreachable`, `timed out after 500 ms`, or
 * what `connectionProblem()` says.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { ConnectTimeout, connectProblem } from "./endpoint.ts";
 *
 * equal(connectProblem(new ConnectTimeout(), 500), "timed out after 500 ms");
 * equal(connectProblem(Object.assign(new Error("x"), { code: "ENOTFOUND" }), 500), "host not found");
 * ```
 */
export function connectProblem(error: unknown, timeoutMs: number): string {
  if (error instanceof ConnectTimeout) return `timed out after ${timeoutMs} ms`;
  return connectionProblem(error);
}

function errorCode(error: unknown): string {
  return (error as { code?: unknown })?.code as string ?? "";
}

/**
 * The host of a URL as a socket takes it: an IPv6 address without its
 * brackets.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { urlHostname } from "./endpoint.ts";
 *
 * equal(urlHostname(new URL("ws://[::1]:7880/ws")), "::1");
 * equal(urlHostname(new URL("wss://chat.example/")), "chat.example");
 * ```
 */
export function urlHostname(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * The port of a URL: the one written, else its scheme's default (`ws:` 80,
 * `wss:` 443), else undefined (`tls:` has none; the caller picks).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { urlPort } from "./endpoint.ts";
 *
 * equal(urlPort(new URL("wss://chat.example/")), 443);
 * equal(urlPort(new URL("ws://chat.example:7880/")), 7880);
 * equal(urlPort(new URL("tls://chat.example")), undefined);
 * ```
 */
export function urlPort(url: URL): number | undefined {
  if (url.port !== "") return Number(url.port);
  return url.protocol === "wss:" ? 443 : url.protocol === "ws:" ? 80 : undefined;
}

/** `host` as a URL's hostname: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
