/**
 * Admission: one set of connection limits for every listener of a server
 * (TCP lines, the HTTP port and its WebSockets), so `--max-clients` and
 * `--max-per-ip` count clients of every transport together.
 *
 * Every accepted connection is either admitted (a {@linkcode Ticket},
 * counted until released) or refused. A refused connection may linger to
 * read its refusal (a line, an HTTP status or a close code), but at most
 * `maxLingering` at once: past that it is closed at once. So the
 * connections in any state stay within `maxClients + maxLingering`, which
 * is what the server needs in file descriptors (see
 * {@linkcode Admission.descriptorsNeeded}).
 *
 * Refusals are logged once per burst: the first at once, the rest of the
 * next second as one line with a count.
 *
 * @module
 */

import {
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_PER_IP,
  MAX_LINGERING_REFUSALS,
  RESERVED_DESCRIPTORS,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { checkNumber } from "../support/options.ts";
import { BurstLog } from "./burst_log.ts";

const ADMISSION = "Cannot create Admission";

/** Options of {@linkcode Admission}. */
export interface AdmissionOptions {
  /** Clients admitted at once, all transports together. @default {1000} */
  maxClients?: number;
  /** Clients from one IP address at once (0 = no limit). @default {20} */
  maxPerIp?: number;
  /** Refused connections that may linger at once to read why. @default {64} */
  maxLingering?: number;
  /** Receives `refuse` events (aggregated per burst). @default {silent} */
  logger?: Logger;
  /**
   * Why a client from `ip` is banned (the refusal it reads, with the time
   * left), or null: checked first, on every transport. @default {no bans}
   */
  banned?: (ip: string) => string | null;
}

/** An admitted connection; release it once when the connection is closed. */
export interface Ticket {
  /** Frees the place (idempotent). */
  release(): void;
}

/** A refused connection. */
export interface Refusal {
  /** Why, for the client and the log: `server full (1000 clients); try again later`. */
  readonly reason: string;
  /**
   * True when the connection may linger to deliver `reason`; the caller
   * then calls {@linkcode Refusal.done} once it is closed. False: close it
   * at once, without a word (too many refusals are lingering already).
   */
  readonly linger: boolean;
  /** The lingering refusal is over (idempotent). */
  done(): void;
}

/** The shared limits of a server's listeners. */
export class Admission {
  readonly maxClients: number;
  readonly maxPerIp: number;
  readonly maxLingering: number;
  readonly #log: BurstLog;
  readonly #banned: (ip: string) => string | null;
  readonly #perIp = new Map<string, number>();
  #clients = 0;
  #lingering = 0;

  constructor(options: AdmissionOptions = {}) {
    this.maxClients = checkNumber(
      ADMISSION,
      "maxClients",
      options.maxClients ?? DEFAULT_MAX_CLIENTS,
      {
        min: 1,
        integer: true,
      },
    );
    this.maxPerIp = checkNumber(ADMISSION, "maxPerIp", options.maxPerIp ?? DEFAULT_MAX_PER_IP, {
      integer: true,
    });
    this.maxLingering = checkNumber(
      ADMISSION,
      "maxLingering",
      options.maxLingering ?? MAX_LINGERING_REFUSALS,
      { integer: true },
    );
    this.#log = new BurstLog(safeLogger(options.logger ?? silentLogger));
    this.#banned = options.banned ?? (() => null);
  }

  /** Connections admitted now. */
  get clientCount(): number {
    return this.#clients;
  }

  /**
   * File descriptors the server may need at most: every admitted and
   * lingering connection, plus a reserve for listeners, logs and Redis.
   */
  get descriptorsNeeded(): number {
    return this.maxClients + this.maxLingering + RESERVED_DESCRIPTORS;
  }

  /**
   * Admits or refuses a new connection from `ip`; `peer` (`host:port`) and
   * `transport` are for the log.
   */
  admit(ip: string, peer: string, transport: string): Ticket | Refusal {
    const fromIp = this.#perIp.get(ip) ?? 0;
    let reason = this.#banned(ip) ?? undefined; // a ban comes first
    if (reason === undefined && this.#clients >= this.maxClients) {
      reason = `server full (${this.maxClients} clients); try again later`;
    } else if (reason === undefined && this.maxPerIp > 0 && fromIp >= this.maxPerIp) {
      reason = `too many connections from ${ip} (at most ${this.maxPerIp}); try again later`;
    }
    if (reason !== undefined) return this.#refuse(reason, peer, transport);
    this.#clients++;
    this.#perIp.set(ip, fromIp + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#clients--;
        const left = (this.#perIp.get(ip) ?? 1) - 1;
        if (left === 0) this.#perIp.delete(ip);
        else this.#perIp.set(ip, left);
      },
    };
  }

  /** Stops the refusal log window (logging what it summed). Call at shutdown. */
  close(): void {
    this.#log.close();
  }

  #refuse(reason: string, peer: string, transport: string): Refusal {
    const linger = this.#lingering < this.maxLingering;
    if (linger) this.#lingering++;
    this.#log.log({ event: "refuse", peer, transport, reason });
    let done = !linger;
    return {
      reason,
      linger,
      done: () => {
        if (done) return;
        done = true;
        this.#lingering--;
      },
    };
  }
}

/** True when `admitted` is a {@linkcode Ticket} rather than a {@linkcode Refusal}. */
export function isTicket(admitted: Ticket | Refusal): admitted is Ticket {
  return "release" in admitted;
}
