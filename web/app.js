/**
 * The chat page: wires the model (chat_model.js), the connection
 * (connection.js) and the drawing (view.js) to the document.
 *
 * @module
 */

import { ChatModel } from "./chat_model.js";
import { InputHistory, parseInput } from "./input_line.js";
import { ChatConnection } from "./connection.js";
import { MessageList, renderMembers, renderRooms } from "./view.js";

/** Fewest milliseconds between two refreshes of a side list the page asks for itself. */
const REFRESH_MS = 2000;

const PAGE_HELP = [
  "on this page: Enter sends, Up and Down recall what you typed, /clear empties this list;",
  "click a room to join it; Escape closes the people and rooms panel on a small screen",
];

/** @param {string} id */
function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
}

function start() {
  const app = byId("app");
  const input = /** @type {HTMLInputElement} */ (byId("input"));
  const status = byId("status");
  const reconnect = byId("reconnect");
  const toggleSide = byId("toggle-side");
  const jump = byId("jump");
  const model = new ChatModel();
  const history = new InputHistory();
  const list = new MessageList(byId("log"), byId("scroller"), {
    onUnseen: (unseen) => (jump.hidden = !unseen),
  });
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const connection = new ChatConnection(`${scheme}//${location.host}/ws`, {
    onEvent,
    onStatus,
    lastError: () => model.lastError,
  });
  /** @type {Record<"who"|"rooms", number>} */
  const refreshedAt = { who: 0, rooms: 0 };
  let sideFrame = 0;
  let operatorDrawn = false;

  /** @param {string} text */
  const note = (text, kind = /** @type {"notice"|"error"} */ ("notice")) =>
    list.add({ kind, ts: new Date().toISOString(), text });

  /** @param {Record<string, any>} event */
  function onEvent(event) {
    const { items, send } = model.apply(event);
    for (const item of items) list.add(item);
    for (const line of send) connection.send(line);
    if (event.type === "notice" && model.operator && !operatorDrawn) {
      if (sideFrame === 0) sideFrame = requestAnimationFrame(drawSide);
    }
    if (event.type === "nick" && event.self && connection.open) {
      status.textContent = `connected as ${model.nick}`;
    }
    if (["welcome", "members", "rooms", "join", "leave", "nick", "topic"].includes(event.type)) {
      if (sideFrame === 0) sideFrame = requestAnimationFrame(drawSide);
    }
  }

  /** @param {import("./connection.js").ConnectionStatus} state */
  function onStatus(state) {
    status.textContent = state.text;
    status.dataset.state = state.state;
    reconnect.hidden = state.state !== "waiting" && state.state !== "closed";
    if (state.state === "waiting" || state.state === "closed") {
      model.disconnected();
      if (state.state === "closed" || state.attempt === 1) note(state.text, "error");
    }
  }

  function drawSide() {
    sideFrame = 0;
    byId("room-name").textContent = model.room;
    byId("topic").textContent = model.topic;
    byId("members-room").textContent = model.room;
    byId("members-count").textContent = String(model.members.length);
    document.title = model.room === "" ? "Parley" : `${model.room} · Parley`;
    renderMembers(byId("members"), model.members, model.nick);
    operatorDrawn = model.operator;
    if (model.operator) addOperatorActions(byId("members"));
    renderRooms(byId("rooms"), model.rooms, model.room, model.members, join);
  }

  /**
   * An operator's buttons beside each other member: kick, mute (10 min), ban (its address, asked first).
   * @param {HTMLElement} list as renderMembers drew it, one row per member in order
   */
  function addOperatorActions(list) {
    [...list.children].forEach((row, i) => {
      const nick = model.members[i];
      if (nick === undefined || nick === model.nick) return;
      for (const action of ["kick", "mute", "ban"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small op-action";
        button.textContent = action;
        button.setAttribute("aria-label", `${action} ${nick}`);
        button.addEventListener("click", () => {
          if (action === "ban" && !confirm(`Ban ${nick}'s address from the server?`)) return;
          if (!connection.send(`/${action} ${nick}`)) note("not connected", "error");
        });
        row.append(button);
      }
    });
  }

  /** @param {string} room */
  function join(room) {
    if (!connection.send(`/join ${room}`)) note("not connected: cannot join now", "error");
    if (app.classList.contains("side-open")) showSide(false);
    input.focus();
  }

  /**
   * Asks the server for a side list without showing the reply in the list;
   * at most once per REFRESH_MS (every line costs flood budget).
   * @param {"who"|"rooms"} kind
   */
  function refresh(kind) {
    const now = Date.now();
    if (!connection.open || now - refreshedAt[kind] < REFRESH_MS) return;
    refreshedAt[kind] = now;
    model.expect(kind, false);
    connection.send(kind === "who" ? "/who" : "/rooms");
  }

  /** @param {boolean} open */
  function showSide(open) {
    app.classList.toggle("side-open", open);
    toggleSide.setAttribute("aria-expanded", String(open));
    if (open) {
      refresh("who"); // in a big room joins and leaves are not announced
      refresh("rooms");
    } else list.scrollToEnd();
  }

  byId("composer").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const line = input.value;
    if (line.trim() === "") return;
    history.add(line);
    const typed = parseInput(line);
    if (typed.local === "clear") list.clear();
    if (typed.local === "format") note("this page speaks JSON events; /format is for programs");
    if (typed.send !== null) {
      if (typed.reply !== null) model.expect(typed.reply, true);
      if (!connection.send(typed.send)) {
        model.disconnected();
        note("not connected: your line was not sent (it is still in the input line)", "error");
        return;
      }
      if (/^\/help\b/i.test(line)) { for (const text of PAGE_HELP) note(text); }
    }
    input.value = "";
    list.scrollToEnd();
  });

  input.addEventListener("keydown", (key) => {
    if (key.key === "ArrowUp" || key.key === "ArrowDown") {
      const line = key.key === "ArrowUp" ? history.up(input.value) : history.down();
      if (line === null) return;
      key.preventDefault();
      input.value = line;
      input.setSelectionRange(line.length, line.length);
    }
  });

  document.addEventListener("keydown", (key) => {
    if (key.key === "Escape" && app.classList.contains("side-open")) {
      showSide(false);
      toggleSide.focus();
    }
  });

  // A registered nick: /nick NAME PASSWORD (the password is kept in memory for reconnects).
  byId("login").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const nick = /** @type {HTMLInputElement} */ (byId("login-nick"));
    const password = /** @type {HTMLInputElement} */ (byId("login-password"));
    if (nick.value.trim() === "" || password.value === "") return;
    model.password = password.value;
    if (!connection.send(`/nick ${nick.value.trim()} ${password.value}`)) {
      note("not connected: try again once connected", "error");
    }
    password.value = "";
  });
  toggleSide.addEventListener("click", () => showSide(!app.classList.contains("side-open")));
  byId("refresh-members").addEventListener("click", () => refresh("who"));
  byId("refresh-rooms").addEventListener("click", () => refresh("rooms"));
  reconnect.addEventListener("click", () => connection.connect());
  jump.addEventListener("click", () => list.scrollToEnd());
  addEventListener("online", () => {
    if (!connection.open && !connection.stopped) connection.connect();
  });

  connection.connect();
  input.focus();
}

start();
