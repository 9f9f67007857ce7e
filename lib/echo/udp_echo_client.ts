/**
 * The UDP echo client: sends requests one at a time, waits for each reply
 * under a timeout, retries, and keeps ping-style statistics. The request
 * format and the statistics are in `udp_probe.ts`.
 *
 * @module
 */

import {
  buildRequest,
  classifyReply,
  emptyStats,
  formatSummary,
  lostCount,
  PROBE_HEADER_BYTES,
  type ProbeStats,
  replyPayload,
  setAttempt,
} from "./udp_probe.ts";
import {
  DEFAULT_UDP_RETRIES,
  DEFAULT_UDP_TIMEOUT_MS,
  MAX_UDP_PAYLOAD,
} from "../support/constants.ts";
import { FailureBackoff } from "../net/backoff.ts";
import { closeQuietly, errorText, formatAddr } from "../net/conn.ts";
import { LineDecoder } from "../framing/line_codec.ts";

/** Options of {@linkcode runUdpEchoClient}. */
export interface UdpEchoClientOptions {
  /** The echo server. */
  target: { hostname: string; port: number };
  /** Local address to send from. @default {0.0.0.0:0, or [::]:0 for an IPv6 target} */
  bind?: { hostname?: string; port?: number };
  /** Milliseconds to wait for each attempt's reply. @default {1000} */
  timeout?: number;
  /** Attempts after the first, per request. @default {2} */
  retries?: number;
  /** Milliseconds from one request's start to the next one's. @default {0} */
  interval?: number;
  /** The requests: messages, or `{ count, size }` for ping mode. */
  requests: AsyncIterable<string> | Iterable<string> | { count: number; size: number };
  /** Receives each output line (replies, timeouts, the summary). */
  print: (line: string) => void;
  /** Stops sending new requests when aborted (the summary is still printed). */
  signal?: AbortSignal;
}

/** The outcome: statistics and the exit code (0 all answered, 1 otherwise). */
export interface UdpEchoClientResult {
  stats: ProbeStats;
  exitCode: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function* requestPayloads(
  requests: UdpEchoClientOptions["requests"],
): AsyncGenerator<Uint8Array | undefined> {
  if ("count" in requests) {
    for (let i = 0; i < requests.count; i++) yield undefined;
    return;
  }
  for await (const message of requests) yield encoder.encode(message);
}

/** Runs the client; see {@linkcode UdpEchoClientOptions}. */
export async function runUdpEchoClient(
  options: UdpEchoClientOptions,
): Promise<UdpEchoClientResult> {
  const client = new UdpEchoClient(options);
  try {
    return await client.run();
  } finally {
    await client.close();
  }
}

/** One run of the client: a socket, a receive loop, and the requests in turn. */
class UdpEchoClient {
  readonly #options: UdpEchoClientOptions;
  readonly #timeout: number;
  readonly #retries: number;
  readonly #size: number;
  readonly #target: string;
  readonly #destination: Deno.NetAddr;
  readonly #socket: Deno.DatagramConn;
  readonly #session = crypto.getRandomValues(new Uint32Array(1))[0];
  readonly #stats = emptyStats();
  readonly #answered = new Set<number>();
  readonly #receiving: Promise<void>;
  /** Set while a request waits for its reply. */
  #waiter: ((datagram: Uint8Array) => void) | null = null;

  constructor(options: UdpEchoClientOptions) {
    this.#options = options;
    this.#timeout = options.timeout ?? DEFAULT_UDP_TIMEOUT_MS;
    this.#retries = options.retries ?? DEFAULT_UDP_RETRIES;
    this.#size = "count" in options.requests ? options.requests.size : 0;
    const { hostname, port } = options.target;
    this.#target = formatAddr(options.target);
    this.#destination = { transport: "udp", hostname, port };
    this.#socket = Deno.listenDatagram({
      transport: "udp",
      hostname: options.bind?.hostname ?? (hostname.includes(":") ? "::" : "0.0.0.0"),
      port: options.bind?.port ?? 0,
    });
    this.#receiving = this.#receiveLoop();
  }

  async run(): Promise<UdpEchoClientResult> {
    const { print, signal } = this.#options;
    const interval = this.#options.interval ?? 0;
    print(
      `PARLEY UDP ECHO ${this.#target}: ${
        this.#size > 0 ? `${this.#size} bytes per request` : "one request per message"
      }, timeout ${this.#timeout} ms, ${this.#retries} retries`,
    );
    let sequence = 0;
    for await (const payload of requestPayloads(this.#options.requests)) {
      if (signal?.aborted) break;
      sequence++;
      const started = performance.now();
      this.#stats.sent++;
      const line = await this.#exchange(
        buildRequest(this.#session, sequence, payload, this.#size),
        sequence,
        started,
      );
      if (line !== null) print(line);
      const wait = interval - (performance.now() - started);
      if (wait > 0 && !signal?.aborted) await delay(wait, signal);
    }
    for (const line of formatSummary(this.#target, this.#stats)) print(line);
    const ok = lostCount(this.#stats) === 0 && this.#stats.corrupt === 0;
    return { stats: this.#stats, exitCode: ok ? 0 : 1 };
  }

  async close(): Promise<void> {
    closeQuietly(this.#socket);
    await this.#receiving;
  }

  async #receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(MAX_UDP_PAYLOAD + 1);
    const backoff = new FailureBackoff();
    while (true) {
      let datagram: Uint8Array;
      try {
        [datagram] = await this.#socket.receive(buffer);
        backoff.reset();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
          return;
        }
        // An ICMP error for an earlier send, where the OS reports one: go
        // on, pausing a little more each time it repeats.
        await backoff.wait();
        continue;
      }
      if (this.#waiter !== null) this.#waiter(datagram);
      else this.#noteUnexpected(datagram, -1);
    }
  }

  /** Counts and reports a late or duplicate reply; ignores strays. */
  #noteUnexpected(datagram: Uint8Array, waitingFor: number): void {
    const verdict = classifyReply(datagram, EMPTY, this.#session, waitingFor, this.#answered);
    if (verdict.kind === "late") {
      this.#stats.late++;
      this.#options.print(`late reply for seq=${verdict.sequence} (already counted as lost)`);
    } else if (verdict.kind === "duplicate") {
      this.#stats.duplicate++;
      this.#options.print(`duplicate reply for seq=${verdict.sequence}`);
    }
  }

  /** Sends `request` until a good reply or the retries run out; returns the line to print. */
  async #exchange(request: Uint8Array, sequence: number, started: number): Promise<string | null> {
    const { print } = this.#options;
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      setAttempt(request, attempt);
      const sentAt = performance.now();
      try {
        await this.#socket.send(request, this.#destination);
      } catch (error) {
        print(`seq=${sequence} send failed: ${errorText(error)}`);
        continue;
      }
      const verdict = await this.#awaitReply(request, sequence);
      if (verdict === "corrupt") {
        this.#answered.add(sequence);
        this.#stats.corrupt++;
        return `seq=${sequence} corrupt reply: payload differs from what was sent`;
      }
      if (verdict !== null) {
        const rtt = performance.now() - sentAt;
        this.#answered.add(sequence);
        this.#stats.received++;
        this.#stats.rtts.push(rtt);
        const text = this.#size > 0 ? "" : `: ${decoder.decode(replyPayload(verdict))}`;
        const retried = attempt > 0 ? ` (attempt ${attempt + 1})` : "";
        return `${verdict.length} bytes from ${this.#target}: seq=${sequence} ` +
          `time=${rtt.toFixed(3)} ms${retried}${text}`;
      }
      print(
        attempt < this.#retries
          ? `seq=${sequence} timed out after ${this.#timeout} ms; retrying (${
            attempt + 1
          }/${this.#retries})`
          : `seq=${sequence} lost: no reply after ${this.#retries + 1} attempts (${
            Math.round(performance.now() - started)
          } ms)`,
      );
    }
    return null;
  }

  /** The good reply (a copy), "corrupt", or null on timeout. */
  #awaitReply(request: Uint8Array, sequence: number): Promise<Uint8Array | "corrupt" | null> {
    return new Promise((resolve) => {
      const finish = (result: Uint8Array | "corrupt" | null) => {
        clearTimeout(timer);
        this.#waiter = null;
        resolve(result);
      };
      const timer = setTimeout(() => finish(null), this.#timeout);
      this.#waiter = (datagram) => {
        const verdict = classifyReply(datagram, request, this.#session, sequence, this.#answered);
        if (verdict.kind === "reply") finish(datagram.slice());
        else if (verdict.kind === "corrupt") finish("corrupt");
        else this.#noteUnexpected(datagram, sequence);
      };
    });
  }
}

const EMPTY = new Uint8Array(0);

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Longest stdin line that fits in one request datagram. */
export const MAX_MESSAGE_BYTES = MAX_UDP_PAYLOAD - PROBE_HEADER_BYTES;

/**
 * Lines of a byte reader (stdin), each at most {@linkcode MAX_MESSAGE_BYTES};
 * a longer one is skipped and reported through `report`.
 */
export async function* readLines(
  reader: { read(buffer: Uint8Array): Promise<number | null> },
  report: (problem: string) => void,
): AsyncGenerator<string> {
  const lines = new LineDecoder({ maxLineBytes: MAX_MESSAGE_BYTES });
  const ready: string[] = [];
  const sink = {
    line: (bytes: Uint8Array) => ready.push(decoder.decode(bytes)),
    overlong: () =>
      report(`a line over ${MAX_MESSAGE_BYTES} bytes does not fit in a datagram; skipped`),
  };
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const n = await reader.read(buffer);
    if (n === null) break;
    lines.push(buffer.subarray(0, n), sink);
    yield* ready.splice(0);
  }
  lines.end(sink);
  yield* ready.splice(0);
}
