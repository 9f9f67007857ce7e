/**
 * How the hub runs its work: every call into the hub, and every answer of
 * the directory it waits for, is one operation, and the fault boundary
 * lies around each. Pure.
 *
 * - An exception while the hub handles one member's line or event ends
 *   only that member (`internal error`, the stack in the log, nothing of
 *   it to the room); with no one member concerned, it is logged.
 * - Members found too slow during an operation (a full queue), or whose
 *   `deliver` threw, are dropped once it is over, never from inside a
 *   broadcast; a drop may find more (its leave is broadcast), dropped in
 *   turn.
 *
 * @module
 */

import type { Logger } from "../support/log.ts";
import type { MaybePromise } from "./directory.ts";
import type { ChatSession } from "./member.ts";

/** What the operations need of their hub. */
export interface OperationsHost {
  readonly log: Logger;
  /** Ends a member found too slow. */
  endSlow(session: ChatSession): void;
  /**
   * Ends a member whose operation failed; `canTell`: its own `deliver`
   * still works, so it may be told why.
   */
  endFailed(session: ChatSession, canTell: boolean): void;
}

/** The hub's operations and fault boundary; see the module documentation. */
export class Operations {
  readonly #host: OperationsHost;
  /** Members found too slow during the current operation, dropped after it. */
  readonly #slow: ChatSession[] = [];
  /** Members whose `deliver` threw during the current operation, ended after it. */
  readonly #failed: { session: ChatSession; error: unknown }[] = [];
  #depth = 0;

  constructor(host: OperationsHost) {
    this.#host = host;
  }

  /**
   * Runs one operation on behalf of `session` (or of no one member), and
   * never throws: an exception ends only that member.
   */
  guarded(session: ChatSession | null, fn: () => void): void {
    try {
      this.run(fn);
    } catch (error) {
      this.fail(session, error, true);
    }
  }

  /**
   * Runs one operation (or a part of the current one); what it found too
   * slow, or failing, is dropped once the outermost one is over.
   */
  run<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      if (--this.#depth === 0) {
        this.#depth++;
        try {
          this.#dropFound();
        } finally {
          this.#depth--;
        }
      }
    }
  }

  /**
   * Uses `value` at once when it is one, or once it resolves (as an
   * operation of its own).
   */
  after<T, R = void>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
    if (!(value instanceof Promise)) return next(value);
    return value.then((resolved) => this.run(() => next(resolved)));
  }

  /** Runs work nobody waits for; a failure is logged, never unhandled. */
  background(work: MaybePromise<unknown>): void {
    if (work instanceof Promise) work.catch((error) => this.fail(null, error, false));
  }

  /** A member's queue is full: dropped once the current operation is over. */
  tooSlow(session: ChatSession): void {
    this.#slow.push(session);
  }

  /** A member's `deliver` threw: ended once the current operation is over. */
  failed(session: ChatSession, error: unknown): void {
    this.#failed.push({ session, error });
  }

  /**
   * Logs an internal error (with its stack) and ends the member it
   * happened for, if any (see {@linkcode OperationsHost.endFailed}).
   */
  fail(session: ChatSession | null, error: unknown, canTell: boolean): void {
    this.logError(session, "internal error", error);
    if (session === null || session.ended) return;
    try {
      this.run(() => this.#host.endFailed(session, canTell));
    } catch (again) {
      this.logError(session, "internal error while ending", again);
    }
  }

  /** Logs an exception met while serving `session`, with its stack. */
  logError(session: ChatSession | null, what: string, error: unknown): void {
    this.#host.log({
      event: "error",
      peer: session?.member.peer,
      nick: session?.nick,
      reason: `${what}: ${error instanceof Error ? error.message : String(error)}`,
      stack: error instanceof Error ? error.stack : undefined,
    });
  }

  #dropFound(): void {
    while (this.#slow.length > 0 || this.#failed.length > 0) {
      const failed = this.#failed.shift();
      if (failed !== undefined) this.fail(failed.session, failed.error, false);
      else this.#host.endSlow(this.#slow.shift()!);
    }
  }
}
