/**
 * Nick colours as the terminal client picks them (lib/terminal/chat_display.ts):
 * FNV-1a over the code points of the nick's key (the server's `nameKey()`,
 * lib/chat/names.ts, ported here with its table of look-alikes) chooses one
 * of ten colours, so a nick wears the same colour in the terminal and on
 * the page. Pure.
 *
 * @module
 */

import { CONFUSABLE_FOLDS } from "./confusable_folds.js";

/** How many nick colours there are (the terminal client's ten ANSI colours). */
export const NICK_COLOURS = 10;

/**
 * "72.6e" -> "rn"
 * @param {string} hex
 */
function decodeHex(hex) {
  let text = "";
  for (let start = 0; start < hex.length;) {
    let end = hex.indexOf(".", start);
    if (end === -1) end = hex.length;
    text += String.fromCodePoint(parseInt(hex.slice(start, end), 16));
    start = end + 1;
  }
  return text;
}

/** @type {Map<string, string>} */
const FOLDS = new Map();
for (const line of CONFUSABLE_FOLDS) {
  for (const entry of line.split(" ")) {
    const colon = entry.indexOf(":");
    FOLDS.set(decodeHex(entry.slice(0, colon)), decodeHex(entry.slice(colon + 1)));
  }
}
const ASCII_KEYS = Array.from({ length: 128 }, (_, code) => {
  const char = String.fromCharCode(code).toLowerCase();
  return FOLDS.get(char) ?? char;
});
const IGNORABLES = /\p{Default_Ignorable_Code_Point}/gu;
const DOT_ON_SOFT_DOTTED = /(?<=\p{Soft_Dotted}\p{Mn}*)\u0307/gu;

/**
 * The key two nicks collide on: the UTS #39 confusable skeleton of the
 * NFKC-case-folded nick (see `nameKey()` in lib/chat/names.ts).
 * @param {string} nick
 * @returns {string}
 */
export function nickKey(nick) {
  let key = "";
  for (let i = 0; i < nick.length; i++) {
    const code = nick.charCodeAt(i);
    if (code >= 0x80) return unicodeKey(nick);
    key += ASCII_KEYS[code];
  }
  return key;
}

/** @param {string} nick */
function unicodeKey(nick) {
  const text = nick.normalize("NFKD").toUpperCase().toLowerCase().replace(IGNORABLES, "")
    .normalize("NFD").replace(DOT_ON_SOFT_DOTTED, "");
  let key = "";
  for (const char of text) key += FOLDS.get(char) ?? char;
  return key.normalize("NFD");
}

/**
 * Which of the ten nick colours `nick` gets: FNV-1a over the code points of
 * its key, as `nickColour()` in lib/terminal/chat_display.ts.
 * @param {string} nick
 * @returns {number}
 */
export function nickColourIndex(nick) {
  let hash = 0x811c9dc5;
  for (const char of nickKey(nick)) {
    hash ^= /** @type {number} */ (char.codePointAt(0));
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % NICK_COLOURS;
}
