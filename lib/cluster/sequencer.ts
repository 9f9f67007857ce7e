/**
 * One room's order, as one node receives it. Pure: numbered events in,
 * what to do out.
 *
 * Every room event is numbered in Redis (`seq`, 1, 2, 3, ...) within an
 * epoch (a random id the room gets when Redis first numbers it; a Redis
 * that restarted empty gives the room a new one). Events come over pub/sub,
 * which may skip some (a dropped subscription) but never reorders them.
 * The sequencer delivers each event once, in order: a duplicate is dropped,
 * a jump asks for the missing ones from the room's stream (`fill`), and
 * when the stream no longer has them, or the epoch changed under it, the
 * members are told once (`gap`) and it carries on from there. When the
 * numbering restarts (a new epoch) it says so first (`reset`): the
 * members' places in the old numbering mean nothing any more.
 *
 * @module
 */

/** What the node must do. */
export type SequencerAction =
  | { kind: "deliver"; seq: number; payload: string }
  | { kind: "fill"; from: number; to: number }
  | { kind: "gap" }
  | { kind: "reset" };

/** Events held while a fill is under way; more than this is given up as a gap. */
export const MAX_BUFFERED_EVENTS = 10_000;

/**
 * The order of one room on one node.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { RoomSequencer } from "./sequencer.ts";
 *
 * const room = new RoomSequencer("e1", 4); // subscribed when the room stood at 4
 * deepEqual(room.receive("e1", 5, "a"), [{ kind: "deliver", seq: 5, payload: "a" }]);
 * deepEqual(room.receive("e1", 5, "a"), []); // a duplicate
 * deepEqual(room.receive("e1", 8, "d"), [{ kind: "fill", from: 6, to: 7 }]);
 * ```
 */
export class RoomSequencer {
  /** The epoch the numbers belong to (null: the room has none yet). */
  epoch: string | null;
  /** The last event delivered (the cursor for history). */
  last: number;
  readonly #buffer = new Map<number, string>();
  /** The range being fetched from the stream, or null. */
  #filling: { from: number; to: number } | null = null;

  constructor(epoch: string | null, last: number) {
    this.epoch = epoch;
    this.last = last;
  }

  /** An event arrived over pub/sub. */
  receive(epoch: string, seq: number, payload: string): SequencerAction[] {
    // Numbering restarted (Redis lost the room): what was missed is lost.
    const actions = epoch === this.epoch ? [] : this.#restart(epoch);
    if (seq <= this.last) return actions; // a duplicate
    if (seq === this.last + 1 && !this.#filling) {
      this.last = seq;
      actions.push({ kind: "deliver", seq, payload });
      // The usual case, in order with nothing waiting: no drain.
      return this.#buffer.size === 0 ? actions : this.#drain(actions);
    }
    this.#buffer.set(seq, payload);
    if (this.#buffer.size > MAX_BUFFERED_EVENTS) {
      this.#filling = null;
      actions.push({ kind: "gap" });
      this.last = Math.min(...this.#buffer.keys()) - 1;
      return this.#drain(actions);
    }
    if (!this.#filling) {
      this.#filling = { from: this.last + 1, to: seq - 1 };
      actions.push({ kind: "fill", ...this.#filling });
    }
    return actions;
  }

  /**
   * The stream's answer to a fill: the entries it still has in the asked
   * range, in order. Missing ones were trimmed: a gap.
   */
  filled(entries: readonly { seq: number; payload: string }[]): SequencerAction[] {
    const range = this.#filling;
    if (range === null) return [];
    this.#filling = null;
    const actions: SequencerAction[] = [];
    let gap = false;
    for (const { seq, payload } of entries) {
      if (seq <= this.last || seq > range.to) continue;
      if (seq !== this.last + 1) gap = true;
      this.last = seq;
      actions.push({ kind: "deliver", seq, payload });
    }
    if (this.last < range.to) {
      gap = true;
      this.last = range.to;
    }
    if (gap) actions.unshift({ kind: "gap" });
    return this.#drain(actions);
  }

  /** The fill failed (the link is down): try again on the next resync. */
  fillFailed(): void {
    this.#filling = null;
  }

  /**
   * After the subscription came back: where the room stands in Redis now
   * (`epoch` null when it has none: Redis restarted empty, or it was never
   * used).
   */
  resync(epoch: string | null, seq: number): SequencerAction[] {
    const actions = epoch === this.epoch ? [] : this.#restart(epoch);
    if (seq > this.last && !this.#filling) {
      this.#filling = { from: this.last + 1, to: seq };
      actions.push({ kind: "fill", ...this.#filling });
    }
    return actions;
  }

  /** A new numbering: `reset` when the old one had begun, and `gap` when events were seen. */
  #restart(epoch: string | null): SequencerAction[] {
    const actions: SequencerAction[] = [];
    if (this.epoch !== null || this.last > 0) actions.push({ kind: "reset" });
    if (this.epoch !== null && this.last > 0) actions.push({ kind: "gap" });
    this.epoch = epoch;
    this.last = 0;
    this.#buffer.clear();
    this.#filling = null;
    return actions;
  }

  /** Adds to `actions` the buffered events that follow on, and the next hole's fill. */
  #drain(actions: SequencerAction[]): SequencerAction[] {
    for (const seq of this.#buffer.keys()) if (seq <= this.last) this.#buffer.delete(seq);
    for (
      let payload = this.#buffer.get(this.last + 1);
      payload !== undefined;
      payload = this.#buffer.get(this.last + 1)
    ) {
      this.#buffer.delete(this.last + 1);
      this.last++;
      actions.push({ kind: "deliver", seq: this.last, payload });
    }
    if (this.#buffer.size > 0) {
      const next = Math.min(...this.#buffer.keys());
      this.#filling = { from: this.last + 1, to: next - 1 };
      actions.push({ kind: "fill", ...this.#filling });
    }
    return actions;
  }
}
