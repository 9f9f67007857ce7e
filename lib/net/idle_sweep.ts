/**
 * An idle sweep for connections that count their own activity: the hot
 * path bumps a counter, and a timer compares it with what it saw last, so
 * no clock is read per message.
 *
 * @module
 */

/** Something whose activity can be watched. */
export interface Active {
  /** Bumped by the connection on every unit of activity. */
  activity: number;
}

/** Calls `onIdle` once for each tracked item idle for `idleMs`. */
export class IdleSweep<T extends Active> {
  readonly #idleMs: number;
  readonly #onIdle: (item: T) => void;
  readonly #items = new Map<T, { seen: number; since: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  /** `idleMs` of 0 turns the sweep off. The timer starts with the first item. */
  constructor(idleMs: number, onIdle: (item: T) => void) {
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
  }

  /** Starts watching `item`. */
  add(item: T): void {
    if (this.#idleMs <= 0 || this.#stopped) return;
    this.#timer ??= setInterval(
      () => this.#sweep(),
      Math.min(1000, Math.max(20, this.#idleMs / 4)),
    );
    this.#items.set(item, { seen: item.activity, since: performance.now() });
  }

  /** Stops watching `item`. */
  delete(item: T): void {
    this.#items.delete(item);
  }

  /** Stops the timer for good. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#items.clear();
  }

  #sweep(): void {
    const now = performance.now();
    for (const [item, state] of this.#items) {
      if (item.activity !== state.seen) {
        state.seen = item.activity;
        state.since = now;
      } else if (now - state.since >= this.#idleMs) {
        this.#items.delete(item);
        this.#onIdle(item);
      }
    }
  }
}
