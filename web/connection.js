/**
 * The page's WebSocket to the chat server (subprotocol `parley.json`): it
 * hands each received event to `onEvent`, reports its state to `onStatus`
 * and, when the connection drops, reconnects after a growing, jittered
 * pause. The WebSocket class and the timers are injected, so the tests
 * drive it without a browser or a clock.
 *
 * @module
 */

import { closeOutcome, parseEvents, reconnectDelay } from "./chat_model.js";

/** The subprotocol that makes the server send JSON events. */
export const JSON_SUBPROTOCOL = "parley.json";

/**
 * @typedef {object} ConnectionStatus
 * @property {"connecting"|"connected"|"waiting"|"closed"} state
 * @property {string} text what to tell the user
 * @property {number} [delayMs] waiting: the pause before the next attempt
 * @property {number} [attempt] waiting: how many attempts have failed in a row
 */

/**
 * @typedef {object} ChatConnectionOptions
 * @property {(event: Record<string, any>) => void} onEvent each event received
 * @property {(status: ConnectionStatus) => void} onStatus each change of state
 * @property {() => string | null} [lastError] the code of the last error event
 * @property {typeof WebSocket} [WebSocket]
 * @property {(fn: () => void, ms: number) => any} [setTimer]
 * @property {(timer: any) => void} [clearTimer]
 * @property {() => number} [random]
 */

/** One chat connection that comes back by itself. */
export class ChatConnection {
  /**
   * @param {string} url the server's `ws://…/ws` address
   * @param {ChatConnectionOptions} options
   */
  constructor(url, options) {
    this.url = url;
    this.options = options;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer));
    this.random = options.random ?? Math.random;
    /** @type {WebSocket | null} */
    this.socket = null;
    /** Attempts that failed in a row (reset by a welcome). */
    this.failures = 0;
    this.timer = null;
    this.stopped = false;
  }

  /** Whether a line can be sent now. */
  get open() {
    return this.socket !== null && this.socket.readyState === 1;
  }

  /** Connects (again) now, cancelling a pending wait. */
  connect() {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.stopped = false;
    if (this.socket !== null) return;
    this.options.onStatus({ state: "connecting", text: "connecting…" });
    const socket = new this.WebSocket(this.url, [JSON_SUBPROTOCOL]);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      for (const event of parseEvents(message.data)) {
        if (event.type === "welcome") {
          this.failures = 0;
          this.options.onStatus({ state: "connected", text: `connected as ${event.nick}` });
        }
        this.options.onEvent(event);
      }
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const outcome = closeOutcome(
        close.code,
        close.reason,
        this.options.lastError?.() ?? null,
        opened,
      );
      if (this.stopped || !outcome.retry) {
        this.stopped = true;
        this.options.onStatus({ state: "closed", text: outcome.text });
        return;
      }
      const delayMs = reconnectDelay(this.failures++, this.random);
      const seconds = (delayMs / 1000).toFixed(1);
      this.options.onStatus({
        state: "waiting",
        text: `${outcome.text}; reconnecting in ${seconds} s (attempt ${this.failures})`,
        delayMs,
        attempt: this.failures,
      });
      this.timer = this.setTimer(() => {
        this.timer = null;
        this.connect();
      }, delayMs);
    };
  }

  /**
   * Sends one line; false when not connected (the line is not sent).
   * @param {string} line
   */
  send(line) {
    if (!this.open) return false;
    /** @type {WebSocket} */ (this.socket).send(line);
    return true;
  }

  /** Closes for good (no reconnect) until `connect()` is called again. */
  close() {
    this.stopped = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.socket?.close(1000);
  }
}
