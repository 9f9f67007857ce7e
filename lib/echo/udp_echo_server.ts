/**
 * An RFC 862 UDP echo server: every datagram goes back to its sender
 * unchanged, empty ones included (an empty datagram is a valid probe and
 * gets an empty reply), up to the UDP maximum of 65,507 bytes, unless the
 * guard in `udp_guard.ts` says no (its own address, a reflecting service
 * port, or over the per-address reply rate): those are dropped and counted.
 *
 * Receives use `sock.receive(buffer)` into a small ring of reused buffers:
 * a send is not awaited before the next receive, but a buffer is reused
 * only after its send has completed (Deno's `send` reads the buffer while
 * in flight, it does not copy it). A failed send to one peer is counted
 * and never stops the server; a failing receive pauses a little more each
 * time it repeats.
 *
 * @module
 */

import {
  DEFAULT_HOST,
  DEFAULT_UDP_PORT,
  DEFAULT_UDP_REPLIES_PER_SECOND,
  MAX_UDP_PAYLOAD,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { FailureBackoff } from "../net/backoff.ts";
import { BurstLog } from "../net/burst_log.ts";
import { closeQuietly, formatAddr } from "../net/conn.ts";
import { UdpReplyGuard, type UdpVerdict } from "./udp_guard.ts";

/** Options of {@linkcode serveUdpEcho}. */
export interface ServeUdpEchoOptions {
  /** Interface to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** UDP port; 0 picks a free one (read it back from `addr`). @default {7879} */
  port?: number;
  /**
   * Let another socket bind the same port (SO_REUSEADDR: Deno offers no
   * SO_REUSEPORT for UDP). Datagrams are not spread: on Linux the socket
   * bound last receives them all, which makes a restart without a gap
   * possible (start the new server, then stop the old). @default {false}
   */
  reusePort?: boolean;
  /** Replies a second to one source address (0 = no bound). @default {1000} */
  maxRepliesPerSecond?: number;
  /** Reply bytes a second to one source address (0 = no bound). @default {131072} */
  maxReplyBytesPerSecond?: number;
  /** Receives `listen`, `error` and `shutdown` events. @default {silent} */
  logger?: Logger;
}

/** What a UDP echo server has done. */
export interface UdpEchoCounters {
  /** Datagrams echoed. */
  datagrams: number;
  /** Bytes echoed. */
  bytes: number;
  /** Failed receives and sends. */
  errors: number;
  /** Dropped: from the server's own address and port. */
  droppedSelf: number;
  /** Dropped: from a reflecting service port (see `REFLECTING_PORTS`). */
  droppedServicePort: number;
  /** Dropped: over the reply rate of their source address. */
  droppedRate: number;
}

/** A running UDP echo server. */
export interface UdpEchoServer extends AsyncDisposable {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  /** Counters so far. */
  readonly counters: Readonly<UdpEchoCounters>;
  shutdown(): Promise<void>;
}

/** Buffers in the receive ring: sends in flight at once. */
const RING_SIZE = 8;

const DROP_COUNTER: Record<Exclude<UdpVerdict, "reply">, keyof UdpEchoCounters> = {
  "self": "droppedSelf",
  "service-port": "droppedServicePort",
  "rate": "droppedRate",
};

/** The addresses a socket bound to `hostname` receives on. */
function ownAddresses(hostname: string): string[] {
  if (hostname !== "0.0.0.0" && hostname !== "::") return [hostname];
  try {
    return [hostname, ...Deno.networkInterfaces().map((iface) => iface.address)];
  } catch {
    return [hostname]; // no --allow-sys: loopback is still covered by the guard
  }
}

/**
 * Starts a UDP echo server.
 *
 * @example
 * ```ts ignore
 * await using server = serveUdpEcho({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.addr.port, server.counters.datagrams);
 * ```
 */
export function serveUdpEcho(options: ServeUdpEchoOptions = {}): UdpEchoServer {
  const log = safeLogger(options.logger ?? silentLogger);
  const hostname = options.hostname ?? DEFAULT_HOST;
  const socket = Deno.listenDatagram({
    hostname,
    port: options.port ?? DEFAULT_UDP_PORT,
    transport: "udp",
    ...(options.reusePort ? { reuseAddress: true } : {}),
  });
  const addr = socket.addr as Deno.NetAddr;
  const guard = new UdpReplyGuard({
    port: addr.port,
    ownAddresses: ownAddresses(hostname),
    maxRepliesPerSecond: options.maxRepliesPerSecond ?? DEFAULT_UDP_REPLIES_PER_SECOND,
    maxReplyBytesPerSecond: options.maxReplyBytesPerSecond,
  });
  log({ event: "listen", addr: formatAddr(addr), transport: "udp" });
  // Sends fail in floods (an unreachable network): one line a second, with the count.
  const sendFailures = new BurstLog(log);
  const counters: UdpEchoCounters = {
    datagrams: 0,
    bytes: 0,
    errors: 0,
    droppedSelf: 0,
    droppedServicePort: 0,
    droppedRate: 0,
  };
  let stopping = false;
  const ring = Array.from({ length: RING_SIZE }, () => new RingSlot(counters, sendFailures));

  const finished = (async () => {
    let next = 0;
    const backoff = new FailureBackoff();
    try {
      while (!stopping) {
        const slot = ring[next];
        if (slot.sending !== null) await slot.sending;
        let datagram: Uint8Array;
        let peer: Deno.NetAddr;
        try {
          [datagram, peer] = await socket.receive(slot.buffer) as [Uint8Array, Deno.NetAddr];
          backoff.reset();
        } catch (error) {
          if (stopping || error instanceof Deno.errors.BadResource) break;
          counters.errors++; // e.g. an ICMP error reported for an earlier send
          await backoff.wait();
          continue;
        }
        const verdict = guard.check(peer.hostname, peer.port, performance.now(), datagram.length);
        if (verdict !== "reply") {
          counters[DROP_COUNTER[verdict]]++;
          continue; // the buffer is free again: reuse this slot
        }
        next = (next + 1) % RING_SIZE;
        counters.datagrams++;
        counters.bytes += datagram.length;
        slot.peer = peer;
        slot.sending = socket.send(datagram, peer).then(slot.sent, slot.failed);
      }
    } finally {
      await Promise.all(ring.map((slot) => slot.sending));
      closeQuietly(socket);
      sendFailures.close();
    }
  })();

  const shutdown = () => {
    if (!stopping) {
      stopping = true;
      log({ event: "shutdown", ...counters });
      closeQuietly(socket);
    }
    return finished;
  };
  return { addr, finished, counters, shutdown, [Symbol.asyncDispose]: shutdown };
}

/**
 * One buffer of the receive ring and the send of what it holds. Its
 * handlers are made once, not per datagram, and clear `sending` when the
 * send is over: a receive into a free slot then awaits nothing.
 */
class RingSlot {
  readonly buffer = new Uint8Array(MAX_UDP_PAYLOAD + 1);
  /** The send in flight from this buffer, or null. */
  sending: Promise<void> | null = null;
  /** Where it goes (for the log of a failure). */
  peer: Deno.NetAddr | null = null;
  readonly sent: () => void;
  readonly failed: (error: unknown) => void;

  constructor(counters: UdpEchoCounters, failures: BurstLog) {
    this.sent = () => {
      this.sending = null;
    };
    this.failed = (error) => {
      this.sending = null;
      counters.errors++;
      failures.log({
        event: "error",
        peer: this.peer === null ? "unknown" : formatAddr(this.peer),
        reason: `send failed: ${error}`,
      });
    };
  }
}
