/**
 * What the page draws: the message list (bounded, drawn in batches once
 * per animation frame), the member list and the room list. Everything
 * received goes into the page as text (`textContent`), never as HTML.
 *
 * @module
 */

import { nickColourIndex } from "./nick_colour.js";

/** @typedef {import("./chat_model.js").DisplayItem} DisplayItem */

/**
 * An element with a class and, optionally, text.
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className !== "") node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A nick in its colour.
 * @param {string} nick
 * @param {string} [shown] the text to show instead of the nick ("you")
 */
export function nickElement(nick, shown = nick) {
  const node = element("span", `nick nick-${nickColourIndex(nick)}`, shown);
  node.dataset.nick = nick;
  return node;
}

/** @param {number} n */
const pad = (n) => String(n).padStart(2, "0");

/**
 * Whether two times fall on the same local day (without formatting either).
 * @param {Date} a
 * @param {Date} b
 */
const sameDay = (a, b) =>
  a.getDate() === b.getDate() && a.getMonth() === b.getMonth() &&
  a.getFullYear() === b.getFullYear();

/**
 * The time of an event in local time: `14:05`, with the date too when it
 * is not today (history can be older).
 * @param {string} iso
 * @param {Date} [now]
 */
export function clockText(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return sameDay(date, now)
    ? time
    : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

/**
 * One list item for a display item.
 * @param {DisplayItem} item
 * @param {Date} [now] the time it is drawn (one for a whole batch)
 * @returns {HTMLLIElement}
 */
export function renderItem(item, now = new Date()) {
  const row = /** @type {HTMLLIElement} */ (element("li", `item item-${item.kind}`));
  if (item.own) row.classList.add("own");
  const time = element("time", "time", clockText(item.ts, now));
  time.setAttribute("datetime", item.ts);
  time.title = new Date(item.ts).toLocaleString();
  row.append(time, " ");
  if (item.history) {
    row.classList.add("history");
    row.append(element("span", "tag", "history"), " ");
  }
  const body = element("span", "body");
  switch (item.kind) {
    case "message":
      body.append(nickElement(item.from ?? ""), element("span", "sep", ": "), item.text);
      break;
    case "action":
      body.append("* ", nickElement(item.from ?? ""), " ", item.text);
      break;
    case "private":
      body.append(
        element("span", "tag", "private"),
        " ",
        item.own ? nickElement(item.from ?? "", "you") : nickElement(item.from ?? ""),
        " → ",
        item.own ? nickElement(item.to ?? "") : nickElement(item.to ?? "", "you"),
        element("span", "sep", ": "),
        item.text,
      );
      break;
    case "error":
      body.append(element("span", "tag", "error"), " ", item.text);
      break;
    default:
      body.append(item.text);
  }
  row.append(body);
  return row;
}

/**
 * The message list: items are queued and drawn together at the next
 * animation frame (a background tab draws when it is shown again); the
 * list and the queue each hold at most `limit` items, the oldest going
 * first, so a busy room costs bounded memory and one layout per frame.
 */
export class MessageList {
  /**
   * @param {HTMLElement} list the `<ol>` (an ARIA live region)
   * @param {HTMLElement} scroller the element that scrolls
   * @param {{ limit?: number, onUnseen?: (unseen: boolean) => void }} [options]
   */
  constructor(list, scroller, options = {}) {
    this.list = list;
    this.scroller = scroller;
    this.limit = options.limit ?? 500;
    this.onUnseen = options.onUnseen ?? (() => {});
    /** @type {DisplayItem[]} */
    this.queue = [];
    this.skipped = 0;
    this.frame = 0;
    scroller.addEventListener("scroll", () => {
      if (this.atBottom()) this.onUnseen(false);
    });
  }

  /** Whether the view shows the newest items. */
  atBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < 40;
  }

  /** @param {DisplayItem} item */
  add(item) {
    this.queue.push(item);
    if (this.queue.length >= 2 * this.limit) this.#drop(); // amortised: one splice per `limit` items
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Draws what is queued (called once per animation frame). */
  flush() {
    this.frame = 0;
    if (this.queue.length === 0) return;
    this.#drop();
    const follow = this.atBottom();
    const batch = document.createDocumentFragment();
    const now = new Date(); // "today", for every item of the batch
    if (this.skipped > 0) {
      const text = `${this.skipped} older ${this.skipped === 1 ? "line" : "lines"} not shown ` +
        `(the list keeps the newest ${this.limit})`;
      batch.append(renderItem({ kind: "notice", ts: now.toISOString(), text }, now));
      this.skipped = 0;
    }
    for (const item of this.queue) batch.append(renderItem(item, now));
    this.queue = [];
    this.list.append(batch);
    let extra = this.list.childElementCount - this.limit;
    while (extra-- > 0) this.list.firstElementChild?.remove();
    if (follow) this.scrollToEnd();
    else this.onUnseen(true);
  }

  /** Keeps only the newest `limit` queued items, counting the others. */
  #drop() {
    const extra = this.queue.length - this.limit;
    if (extra <= 0) return;
    this.queue.splice(0, extra);
    this.skipped += extra;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.onUnseen(false);
  }

  clear() {
    this.queue = [];
    this.skipped = 0;
    this.list.replaceChildren();
  }
}

/**
 * Draws the member list of the room.
 * @param {HTMLElement} list
 * @param {string[]} members
 * @param {string} self
 */
export function renderMembers(list, members, self) {
  list.replaceChildren(...members.map((nick) => {
    const row = element("li", nick === self ? "member self" : "member");
    row.append(nickElement(nick));
    if (nick === self) row.append(element("span", "hint", " (you)"));
    return row;
  }));
}

/**
 * How many are in `room` as the room list shows it: for the current room,
 * its member list (kept current by joins and leaves), once there is one;
 * for the others, the count of the last room list.
 * @param {{name: string, count: number}} room
 * @param {string} current
 * @param {readonly string[]} members the current room's
 * @returns {number}
 */
export function roomCount(room, current, members) {
  return room.name === current && members.length > 0 ? members.length : room.count;
}

/**
 * Draws the room list: one button per room, the current one marked.
 * @param {HTMLElement} list
 * @param {ReadonlyArray<{name: string, count: number}>} rooms
 * @param {string} current
 * @param {readonly string[]} members the current room's
 * @param {(room: string) => void} join
 */
export function renderRooms(list, rooms, current, members, join) {
  list.replaceChildren(...rooms.map((room) => {
    const count = roomCount(room, current, members);
    const row = element("li", "room");
    const button = /** @type {HTMLButtonElement} */ (element("button", "room-button"));
    button.type = "button";
    button.dataset.room = room.name;
    button.append(element("span", "room-name", room.name), " ");
    button.append(element("span", "count", String(count)));
    button.setAttribute("aria-label", `${room.name}, ${count} here`);
    if (room.name === current) button.setAttribute("aria-current", "true");
    else button.addEventListener("click", () => join(room.name));
    row.append(button);
    return row;
  }));
}
