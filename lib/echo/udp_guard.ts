/**
 * Which datagrams a UDP echo server answers. Pure: addresses and times in,
 * a verdict out.
 *
 * An echo server answers whoever a datagram *says* sent it, and UDP source
 * addresses can be forged. Three rules keep it from being turned against
 * itself or others:
 *
 * 1. **Its own address**: a datagram from the server's own address and
 *    port would be answered to itself, forever (one forged datagram made
 *    63,600 replies a second). Dropped.
 * 2. **Service ports**: a source port of another service that answers
 *    whatever it receives (echo, chargen, daytime, DNS, NTP, ...) starts the
 *    classic reflection loop between two servers. Dropped:
 *    {@linkcode REFLECTING_PORTS}.
 * 3. **Rate per source address**: at most `maxRepliesPerSecond` replies a
 *    second to one address (a token bucket, burst one second's worth), and
 *    at most `maxReplyBytesPerSecond` bytes a second (burst one second's
 *    worth, and at least one datagram of the largest size): a datagram
 *    count alone let 1,000 replies of 65,507 bytes, 65 MB/s, go to one
 *    forged victim. The rest are dropped and counted. At most
 *    {@linkcode MAX_TRACKED_SOURCES} addresses are tracked; the least
 *    recently seen is forgotten first.
 *
 * @module
 */

import { BucketMap } from "../support/bucket_map.ts";
import {
  DEFAULT_UDP_REPLIES_PER_SECOND,
  DEFAULT_UDP_REPLY_BYTES_PER_SECOND,
  MAX_UDP_PAYLOAD,
} from "../support/constants.ts";
import { checkNumber } from "../support/options.ts";

/**
 * Source ports never answered: services that reply to anything (so two of
 * them, or one and us, can bounce datagrams forever) or are common
 * reflection sources. 0 is never a valid source port.
 */
export const REFLECTING_PORTS: ReadonlySet<number> = new Set([
  0, // invalid
  7, // echo
  9, // discard
  11, // systat
  13, // daytime
  17, // quote of the day
  19, // chargen
  37, // time
  53, // DNS
  69, // TFTP
  111, // portmapper
  123, // NTP
  137, // NetBIOS name service
  161, // SNMP
  389, // CLDAP
  520, // RIP
  1900, // SSDP
  5353, // mDNS
  11211, // memcached
]);

/** Addresses whose reply rate is tracked at once. */
export const MAX_TRACKED_SOURCES = 10_000;

/** Why a datagram gets no reply, or `reply`. */
export type UdpVerdict = "reply" | "self" | "service-port" | "rate";

/** Options of {@linkcode UdpReplyGuard}. */
export interface UdpReplyGuardOptions {
  /** The server's port. */
  port: number;
  /** The server's own addresses (the bound one, or every local one for a wildcard). */
  ownAddresses: Iterable<string>;
  /** Replies a second to one address (0 = no bound). @default {1000} */
  maxRepliesPerSecond?: number;
  /** Reply bytes a second to one address (0 = no bound). @default {131072} */
  maxReplyBytesPerSecond?: number;
}

/** True for an address of the IPv4 or IPv6 loopback. */
export function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/**
 * Decides, datagram by datagram, whether to reply.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { UdpReplyGuard } from "./udp_guard.ts";
 *
 * const guard = new UdpReplyGuard({ port: 7879, ownAddresses: ["127.0.0.1"] });
 * equal(guard.check("127.0.0.1", 7879, 0), "self");
 * equal(guard.check("192.0.2.7", 19, 0), "service-port");
 * equal(guard.check("192.0.2.7", 40000, 0), "reply");
 * ```
 */
export class UdpReplyGuard {
  readonly maxRepliesPerSecond: number;
  readonly maxReplyBytesPerSecond: number;
  readonly #port: number;
  readonly #own: Set<string>;
  readonly #buckets: BucketMap;
  readonly #byteBuckets: BucketMap;

  constructor(options: UdpReplyGuardOptions) {
    this.#port = options.port;
    this.#own = new Set(options.ownAddresses);
    this.maxRepliesPerSecond = checkNumber(
      "Cannot create UdpReplyGuard",
      "maxRepliesPerSecond",
      options.maxRepliesPerSecond ?? DEFAULT_UDP_REPLIES_PER_SECOND,
    );
    const rate = this.maxRepliesPerSecond;
    this.#buckets = new BucketMap({
      rate,
      burst: Math.max(1, Math.ceil(rate)),
      maxKeys: MAX_TRACKED_SOURCES,
    });
    this.maxReplyBytesPerSecond = checkNumber(
      "Cannot create UdpReplyGuard",
      "maxReplyBytesPerSecond",
      options.maxReplyBytesPerSecond ?? DEFAULT_UDP_REPLY_BYTES_PER_SECOND,
    );
    const byteRate = this.maxReplyBytesPerSecond;
    this.#byteBuckets = new BucketMap({
      rate: byteRate,
      burst: Math.max(MAX_UDP_PAYLOAD, Math.ceil(byteRate)),
      maxKeys: MAX_TRACKED_SOURCES,
    });
  }

  /** Source addresses tracked now (bounded by {@linkcode MAX_TRACKED_SOURCES}). */
  get trackedSources(): number {
    return Math.max(this.#buckets.size, this.#byteBuckets.size);
  }

  /** The verdict for a datagram of `bytes` from `address`:`port` at `now` (ms). */
  check(address: string, port: number, now: number, bytes = 0): UdpVerdict {
    if (port === this.#port && (this.#own.has(address) || (this.#ownLoopback(address)))) {
      return "self";
    }
    if (REFLECTING_PORTS.has(port)) return "service-port";
    if (this.maxRepliesPerSecond > 0 && !this.#buckets.take(address, now)) return "rate";
    if (this.maxReplyBytesPerSecond > 0 && !this.#byteBuckets.take(address, now, bytes)) {
      return "rate";
    }
    return "reply";
  }

  /** A wildcard server owns the whole loopback range. */
  #ownLoopback(address: string): boolean {
    return isLoopback(address) && (this.#own.has("0.0.0.0") || this.#own.has("::"));
  }
}
