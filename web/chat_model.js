/**
 * The chat page's own logic, pure (no DOM, no sockets): JSON events in,
 * display items and the page's state out; what a close means; the
 * reconnect backoff. `tests/page_test.ts` imports it under Deno.
 *
 * @module
 */

/**
 * The events in one WebSocket message: JSON objects, LF between them.
 * Lines that are not an event object are skipped.
 * @param {string} data
 * @returns {Array<Record<string, any>>}
 */
export function parseEvents(data) {
  const events = [];
  for (const line of data.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const event = JSON.parse(line);
      if (event !== null && typeof event === "object" && typeof event.type === "string") {
        events.push(event);
      }
    } catch { /* not JSON: skipped */ }
  }
  return events;
}

/**
 * Milliseconds to wait before reconnect attempt `attempt` (0 first):
 * exponential from 500 ms up to 15 s, with "equal jitter" (half fixed,
 * half random) so that pages dropped together do not come back together.
 * @param {number} attempt
 * @param {() => number} [random]
 * @returns {number}
 */
export function reconnectDelay(attempt, random = Math.random) {
  const ceiling = Math.min(15_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * What a close of the WebSocket means: the text to show and whether to
 * reconnect by itself. `lastError` is the code of the last error event.
 * @param {number} code
 * @param {string} reason
 * @param {string | null} lastError
 * @param {boolean} opened whether the WebSocket had opened
 * @returns {{ text: string, retry: boolean }}
 */
export function closeOutcome(code, reason, lastError, opened) {
  const why = reason === "" ? "" : `: ${reason}`;
  switch (code) {
    case 1000:
      return { text: "disconnected: you quit", retry: false };
    case 1001:
      // Only a quit (1000) ends it for good: an idle close (with --idle-timeout) is retried too.
      return lastError === "idle"
        ? { text: "disconnected: idle for too long", retry: true }
        : { text: `the server went away${why}`, retry: true };
    case 1008:
      return { text: "dropped by the server: this page read too slowly", retry: true };
    case 1013:
      return { text: `refused by the server${why || ": try again later"}`, retry: true };
    default:
      return opened
        ? { text: `connection lost (${code}${why})`, retry: true }
        : { text: "cannot reach the server", retry: true };
  }
}

/**
 * @typedef {object} DisplayItem
 * @property {"message"|"action"|"private"|"notice"|"error"} kind
 * @property {string} ts ISO 8601 time of the event
 * @property {string} text
 * @property {string} [from] who said it (message, action, private)
 * @property {string} [to] private: to whom
 * @property {boolean} [own] said by this page's member
 * @property {boolean} [history] said before you joined (replayed)
 */

/**
 * The page's view of the chat: who it is, where, with whom; it turns each
 * event into what to show and what to send (restoring nick and room after
 * a reconnect, refreshing the room list after a join).
 */
export class ChatModel {
  constructor() {
    this.nick = "";
    /** The nick the user chose with /nick, to restore after a reconnect. */
    this.chosenNick = "";
    this.room = "";
    /** @type {string[]} */
    this.members = [];
    /**
     * The room list as the server last sent it; the view counts the current
     * room from `members`, which follows joins and leaves between lists.
     * @type {ReadonlyArray<{name: string, count: number}>}
     */
    this.rooms = [];
    this.server = "";
    this.sessions = 0;
    /** Whether each pending /who and /rooms reply is to be shown, in order. */
    /** @type {{ who: boolean[], rooms: boolean[] }} */
    this.pending = { who: [], rooms: [] };
    /** @type {string | null} */
    this.lastError = null;
    /** Whether this connection is an operator (`/oper`): the page then offers kick, mute, ban. */
    this.operator = false;
    /** The current room's topic ("" when none). */
    this.topic = "";
    /** The registered nick's password from the login field, to take the nick back after a reconnect. */
    this.password = "";
  }

  /**
   * Notes that a /who or /rooms is on its way, and whether its reply is
   * shown in the list (typed by the user) or only updates the side lists.
   * @param {"who"|"rooms"} kind
   * @param {boolean} visible
   */
  expect(kind, visible) {
    const queue = this.pending[kind];
    if (queue.length < 16) queue.push(visible);
  }

  /** The connection dropped: replies pending on it will not come. */
  disconnected() {
    this.pending = { who: [], rooms: [] };
  }

  /**
   * Applies one event; returns the items to show and the lines to send.
   * @param {Record<string, any>} event
   * @returns {{ items: DisplayItem[], send: string[] }}
   */
  apply(event) {
    /** @type {DisplayItem[]} */
    const items = [];
    /** @type {string[]} */
    const send = [];
    const ts = typeof event.ts === "string" ? event.ts : new Date().toISOString();
    const notice = (/** @type {string} */ text) => items.push({ kind: "notice", ts, text });
    switch (event.type) {
      case "welcome": {
        this.sessions++;
        this.lastError = null;
        this.operator = false; // a new connection: /oper again
        this.nick = event.nick;
        const wantedRoom = this.room;
        this.room = event.room;
        this.members = [];
        this.server = event.server;
        notice(
          `${this.sessions > 1 ? "reconnected: " : ""}welcome to ${event.server}, ${event.nick}; ` +
            `${event.online} online; you are in ${event.room}; type /help for commands`,
        );
        if (this.chosenNick !== "" && this.chosenNick !== event.nick) {
          send.push(`/nick ${this.chosenNick}${this.password === "" ? "" : ` ${this.password}`}`);
        }
        if (this.sessions > 1 && wantedRoom !== "" && wantedRoom !== event.room) {
          send.push(`/join ${wantedRoom}`);
        }
        this.expect("rooms", false);
        send.push("/rooms");
        break;
      }
      case "members": {
        const moved = event.room !== this.room || this.members.length === 0;
        const visible = moved ? false : this.pending.who.shift() ?? false;
        this.members = [...event.members];
        if (moved && event.room !== this.room) {
          this.room = event.room;
          this.topic = "";
          notice(`you joined ${event.room}; ${event.members.length} here`);
          this.expect("rooms", false);
          send.push("/rooms");
        } else if (visible) {
          notice(`${event.members.length} in ${event.room}: ${event.members.join(", ")}`);
        }
        break;
      }
      case "rooms": {
        this.rooms = event.rooms;
        if (this.pending.rooms.shift() ?? false) {
          const listed = event.rooms.map((/** @type {any} */ room) =>
            `${room.name} (${room.count}${room.topic ? `: ${room.topic}` : ""})`
          );
          notice(
            `${event.rooms.length} ${event.rooms.length === 1 ? "room" : "rooms"}: ${
              listed.join(", ")
            }`,
          );
        }
        break;
      }
      case "join":
        if (event.room === this.room && !this.members.includes(event.nick)) {
          this.members.push(event.nick);
        }
        notice(`${event.nick} joined ${event.room}`);
        break;
      case "leave":
        if (event.room === this.room) {
          this.members = this.members.filter((nick) => nick !== event.nick);
        }
        notice(`${event.nick} left (${event.reason})`);
        break;
      case "nick":
        this.members = this.members.map((nick) => nick === event.from ? event.to : nick);
        if (event.self) {
          this.nick = event.to;
          this.chosenNick = event.to;
          notice(`you are now known as ${event.to}`);
        } else notice(`${event.from} is now known as ${event.to}`);
        break;
      case "message":
      case "action":
        items.push({
          kind: event.type,
          ts,
          from: event.from,
          text: event.text,
          own: event.from === this.nick,
        });
        break;
      case "history":
        items.push({ kind: event.kind, ts, from: event.from, text: event.text, history: true });
        break;
      case "private":
        items.push({
          kind: "private",
          ts,
          from: event.from,
          to: event.to,
          text: event.text,
          own: event.from === this.nick,
        });
        break;
      case "notice":
        if (/^you are (now|already) an operator \(/.test(event.text)) this.operator = true;
        notice(event.text);
        break;
      case "kick":
      case "ban":
        if (event.room === this.room) {
          this.members = this.members.filter((nick) => nick !== event.nick);
        }
        notice(
          `${event.nick} was ${event.type === "kick" ? "kicked" : "banned"} by ${event.by}` +
            (event.reason ? ` (${event.reason})` : ""),
        );
        break;
      case "mute": {
        const until = event.until === null
          ? "until lifted"
          : `until ${event.until.slice(11, 19)} UTC`;
        if (!event.muted) {
          notice(event.self ? "you may speak again" : `${event.nick} may speak again`);
        } else {notice(
            event.self
              ? `you are muted by ${event.by} ${until}`
              : `${event.nick} is muted ${until}`,
          );}
        break;
      }
      case "topic":
        if (event.room === this.room) this.topic = event.text;
        if (event.text !== "") notice(`topic of ${event.room}: ${event.text} (set by ${event.by})`);
        else {notice(
            event.by === ""
              ? `${event.room} has no topic`
              : `topic of ${event.room} cleared by ${event.by}`,
          );}
        break;
      case "error":
        this.lastError = event.code;
        if (event.code === "rate_limit") this.pending = { who: [], rooms: [] };
        items.push({ kind: "error", ts, text: event.text });
        break;
      default: // "format", and types a later server may add
        break;
    }
    return { items, send };
  }
}
