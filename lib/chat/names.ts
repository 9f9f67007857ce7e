/**
 * Nick and room name rules, pure: which names may be taken ({@linkcode checkNick},
 * {@linkcode checkRoom}) and when two names are the same one ({@linkcode nameKey}).
 *
 * The policy follows Unicode Technical Standard #39, *Unicode Security Mechanisms*
 * (https://www.unicode.org/reports/tr39/), so that no name can pass for another:
 *
 * 1. **Look-alikes collide.** Two names are the same when their {@linkcode nameKey}s are
 *    equal. The key is the UTS #39 confusable *skeleton* of the NFKC-case-folded name, made
 *    case-insensitive (see {@linkcode nameKey}): `alice`, `Alice`, `ALICE`, `aIice` (capital
 *    I), `alıce` (dotless i), `ＡＬＩＣＥ`, `𝐚𝐥𝐢𝐜𝐞` and `аlice` (Cyrillic а) share one key.
 * 2. **One script per name** (UTS #39 §5.2, *Highly Restrictive*): a name's letters come from
 *    one script, plus Common and Inherited characters (digits, `_ - .`, combining marks), or
 *    from Latin + Han + Hiragana + Katakana, Latin + Han + Bopomofo or Latin + Han + Hangul.
 *    Scripts are read from each character's Script_Extensions. Only the *Recommended*
 *    scripts of UAX #31 (Table 5; ICU's USCRIPT_USAGE_RECOMMENDED) are allowed, the script
 *    part of the UTS #39 General Security Profile: Cherokee `ᎪᏞᏆᏟᎬ` and the other limited-use
 *    or historic scripts, many of which are built of Latin look-alikes, are refused.
 * 3. **Nothing invisible.** Default-ignorable code points (zero-width space and joiners,
 *    variation selectors, U+034F COMBINING GRAPHEME JOINER, the Hangul fillers, tags…),
 *    format characters and U+2800 BRAILLE PATTERN BLANK are refused, and a name that would
 *    show as nothing is refused as blank.
 * 4. **No compatibility forms.** A name must be the same under NFKC as under NFC (the test
 *    UAX #29 §4 and the UTS #39 General Security Profile give): full-width `ＡＬＩＣＥ`,
 *    mathematical `𝐚𝐥𝐢𝐜𝐞`, ligatures such as `ﬁ` or `ﷺ` are refused; their key still
 *    folds them, so `/msg ＡＬＩＣＥ` reaches alice.
 * 5. **Bounded combining marks** (UTS #39 §5.4): in NFD, at most
 *    {@linkcode MAX_MARKS_IN_A_ROW} nonspacing marks (Mn, Me) in a row, never the same mark
 *    twice in a row, and at most one per two characters of the length limit in all (12 in a
 *    nick, 16 in a room name). UTS #39 suggests 4 in a row; 3 still allows polytonic Greek
 *    (ᾧ is ω + 3 marks in NFD), pointed Hebrew and Vietnamese (2), and stops zalgo text.
 * 6. **Bounded width**: a name takes at most as many terminal columns as it may have
 *    characters (24 for a nick, 32 for a room name), as measured by npm `string-width`: 24
 *    Latin letters fit, 12 CJK ideographs or Hangul syllables (two columns each) fit, 13 do
 *    not.
 *
 * Names are shown as their owner typed them, in NFC; only the key is folded.
 *
 * Data: the confusable mappings are `confusables.txt` of UTS #39 version 13.0.0 as shipped
 * by npm `unhomoglyph@1.0.6`, folded into `confusables_data.ts` (its header says how; the
 * table is regenerated and compared by `tests/names_test.ts`). Normalization, case mapping,
 * scripts and the other character properties come from the JavaScript engine (V8 in Deno
 * 2.9.6: Unicode 16.0) through `String.prototype.normalize`, case mapping and `\p{…}`
 * regular expression property escapes.
 *
 * @module
 */

import stringWidth from "string-width";
import { MAX_NICK_LENGTH, MAX_ROOM_LENGTH } from "../support/constants.ts";
import { CONFUSABLE_FOLDS } from "./confusables_data.ts";

/**
 * The scripts a name may be written in: the Recommended scripts of UAX #31 (Table 5),
 * by their Unicode long names, besides Common and Inherited. Latin first: it is the most
 * frequent, and the order in which {@linkcode checkNick} tries them.
 */
export const RECOMMENDED_SCRIPTS: readonly string[] = [
  "Latin",
  "Cyrillic",
  "Greek",
  "Han",
  "Hiragana",
  "Katakana",
  "Hangul",
  "Bopomofo",
  "Arabic",
  "Hebrew",
  "Armenian",
  "Georgian",
  "Ethiopic",
  "Thaana",
  "Devanagari",
  "Bengali",
  "Gurmukhi",
  "Gujarati",
  "Oriya",
  "Tamil",
  "Telugu",
  "Kannada",
  "Malayalam",
  "Sinhala",
  "Thai",
  "Lao",
  "Tibetan",
  "Myanmar",
  "Khmer",
];

/** Most nonspacing marks (gc Mn or Me) one character may carry in NFD. */
export const MAX_MARKS_IN_A_ROW = 3;

// Every script V8 knows (Unicode 16.0), by long name: only to name, in a refusal, the
// script of a character that is not allowed.
const ALL_SCRIPTS = "Adlam Caucasian_Albanian Ahom Arabic Imperial_Aramaic Armenian Avestan " +
  "Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid " +
  "Chakma Canadian_Aboriginal Carian Cham Cherokee Chorasmian Coptic Cypro_Minoan Cypriot " +
  "Cyrillic Devanagari Dives_Akuru Dogra Deseret Duployan Egyptian_Hieroglyphs Elbasan " +
  "Elymaic Ethiopic Garay Georgian Glagolitic Gunjala_Gondi Masaram_Gondi Gothic Grantha " +
  "Greek Gujarati Gurung_Khema Gurmukhi Hangul Han Hanunoo Hatran Hebrew Hiragana " +
  "Anatolian_Hieroglyphs Pahawh_Hmong Nyiakeng_Puachue_Hmong Old_Hungarian Old_Italic " +
  "Javanese Kayah_Li Katakana Kawi Kharoshthi Khmer Khojki Khitan_Small_Script Kannada " +
  "Kirat_Rai Kaithi Tai_Tham Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian " +
  "Mahajani Makasar Mandaic Manichaean Marchen Medefaidrin Mende_Kikakui Meroitic_Cursive " +
  "Meroitic_Hieroglyphs Malayalam Modi Mongolian Mro Meetei_Mayek Multani Myanmar " +
  "Nag_Mundari Nandinagari Old_North_Arabian Nabataean Newa Nko Nushu Ogham Ol_Chiki " +
  "Ol_Onal Old_Turkic Oriya Osage Osmanya Old_Uyghur Palmyrene Pau_Cin_Hau Old_Permic " +
  "Phags_Pa Inscriptional_Pahlavi Psalter_Pahlavi Phoenician Miao Inscriptional_Parthian " +
  "Rejang Hanifi_Rohingya Runic Samaritan Old_South_Arabian Saurashtra SignWriting Shavian " +
  "Sharada Siddham Khudawadi Sinhala Sogdian Old_Sogdian Sora_Sompeng Soyombo Sundanese " +
  "Sunuwar Syloti_Nagri Syriac Tagbanwa Takri Tai_Le New_Tai_Lue Tamil Tangut Tai_Viet " +
  "Telugu Tifinagh Tagalog Thaana Thai Tibetan Tirhuta Tangsa Todhri Toto Tulu_Tigalari " +
  "Ugaritic Vai Vithkuqi Warang_Citi Wancho Old_Persian Cuneiform Yezidi Yi " +
  "Zanabazar_Square";

const NAME_CHARACTERS = /^[\p{L}\p{N}_][\p{L}\p{N}\p{M}_.-]*$/u;

// Shows as nothing: default ignorables, format characters, white space, braille blank.
const BLANK = /^[\p{Default_Ignorable_Code_Point}\p{Cf}\p{White_Space}\u2800]*$/u;
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\u2800]/u;

const scx = (script: string) => `\\p{Script_Extensions=${script}}`;
const COMMON = `${scx("Common")}${scx("Inherited")}`;

// The script patterns take some 10 ms to build: built on the first check, not on import
// (a process may only need nameKey()).
interface ScriptPatterns {
  /** Matches a character whose scripts are only Common or Inherited. */
  common: RegExp;
  /** Matches a whole name written in the allowed scripts only. */
  allowed: RegExp;
  /** Each set of scripts a whole name may be covered by (UTS #39 §5.2, Highly Restrictive). */
  sets: readonly RegExp[];
  /** Each allowed script, and a pattern that matches a character of it. */
  characters: readonly (readonly [string, RegExp])[];
}
let scriptPatterns: ScriptPatterns | undefined;

function scripts(): ScriptPatterns {
  return scriptPatterns ??= {
    common: new RegExp(`[${COMMON}]`, "u"),
    allowed: new RegExp(`^[${COMMON}${RECOMMENDED_SCRIPTS.map(scx).join("")}]*$`, "u"),
    sets: [
      ...RECOMMENDED_SCRIPTS.map((script) => [script]),
      ["Latin", "Han", "Hiragana", "Katakana"],
      ["Latin", "Han", "Bopomofo"],
      ["Latin", "Han", "Hangul"],
    ].map((set) => new RegExp(`^[${COMMON}${set.map(scx).join("")}]*$`, "u")),
    characters: RECOMMENDED_SCRIPTS.map((script) => [script, new RegExp(scx(script), "u")]),
  };
}
let anyScriptCharacter: readonly (readonly [string, RegExp])[] | undefined;

const NONSPACING_MARK = /[\p{Mn}\p{Me}]/gu;
const NONSPACING_MARK_RUN = new RegExp(`[\\p{Mn}\\p{Me}]{${MAX_MARKS_IN_A_ROW + 1}}`, "u");
const REPEATED_NONSPACING_MARK = /([\p{Mn}\p{Me}])\1/u;

/**
 * Checks a requested nick: 1 to 24 characters; letters and digits, `_`, `-`, `.`,
 * starting with a letter, digit or `_`; one script (or an allowed CJK mix) among the
 * Recommended ones; nothing invisible, no compatibility forms, few combining marks, at most
 * 24 columns wide (see the module documentation). Returns the reason it is refused, or
 * `undefined` when it is acceptable; it may still be taken (compare {@linkcode nameKey}s).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { checkNick } from "./names.ts";
 *
 * equal(checkNick("José"), undefined);
 * equal(checkNick("山田たろう"), undefined);
 * equal(checkNick("\u0430lice"), "nick mixes scripts (Cyrillic and Latin)");
 * equal(checkNick("alice\u034f"), "nick contains invisible characters");
 * equal(checkNick("\u3164"), "nick shows as blank");
 * equal(checkNick("山".repeat(13)), "nick is too wide (over 24 columns)");
 * ```
 */
export function checkNick(nick: string): string | undefined {
  return checkName("nick", nick.normalize("NFC"), MAX_NICK_LENGTH);
}

/**
 * Checks a room name: a leading `#` is allowed and dropped (see
 * {@linkcode normalizeRoom}); then the rules of {@linkcode checkNick}, up to 32 characters
 * and 32 columns. Returns the reason it is refused, or `undefined` when it is acceptable.
 */
export function checkRoom(room: string): string | undefined {
  return checkName("room name", normalizeRoom(room), MAX_ROOM_LENGTH);
}

/** A room name as shown: NFC, without a leading `#`. */
export function normalizeRoom(room: string): string {
  return (room.startsWith("#") ? room.slice(1) : room).normalize("NFC");
}

function checkName(what: string, name: string, maxLength: number): string | undefined {
  let length = 0;
  for (const _ of name) length++;
  if (length === 0) return `${what} is empty`;
  if (length > maxLength) return `${what} is longer than ${maxLength} characters`;
  if (BLANK.test(name)) return `${what} shows as blank`;
  if (INVISIBLE.test(name)) return `${what} contains invisible characters`;
  if (!NAME_CHARACTERS.test(name)) {
    return `${what} may use only letters, digits, _ - . and must start with a letter, digit or _`;
  }
  if (name.normalize("NFKC") !== name) {
    return `${what} uses full-width, styled or other compatibility characters`;
  }
  const { allowed, sets } = scripts();
  if (!allowed.test(name)) {
    return `${what} uses a script not allowed in names (${disallowedScript(name)})`;
  }
  if (!sets.some((set) => set.test(name))) {
    return `${what} mixes scripts (${listScripts(name)})`;
  }
  const decomposed = name.normalize("NFD");
  if (
    NONSPACING_MARK_RUN.test(decomposed) || REPEATED_NONSPACING_MARK.test(decomposed) ||
    (decomposed.match(NONSPACING_MARK)?.length ?? 0) > maxLength / 2
  ) {
    return `${what} has too many combining marks`;
  }
  if (DOT_ABOVE_ON_I_LIKE.test(decomposed)) {
    return `${what} puts a dot above on i, j or l (it would read as a name without it)`;
  }
  const width = stringWidth(name);
  if (width === 0) return `${what} shows as blank`;
  if (width > maxLength) return `${what} is too wide (over ${maxLength} columns)`;
  return undefined;
}

/**
 * A combining dot above (U+0307, after any other marks) on i, j, their dotless forms ı and
 * ȷ, or an l-like letter (l, Cyrillic і ј ӏ, Latin ɩ): `al̇ice` reads as `alice`, and the
 * skeleton keeps the dot. Chromium's IDN spoof checker refuses the same. (A capital I with
 * the dot is Turkish İ, allowed.)
 */
const DOT_ABOVE_ON_I_LIKE = /[ijlıȷіјɩӏ]\p{Mn}*\u0307/u;

// "Latin and Cyrillic", "Latin, Greek and Cyrillic": the scripts of a name's letters.
function listScripts(name: string): string {
  const { common, characters } = scripts();
  const found = new Set<string>();
  for (const char of name) {
    if (common.test(char)) continue;
    const script = characters.find(([, pattern]) => pattern.test(char));
    if (script) found.add(script[0]);
  }
  const names = [...found];
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

// The script of the first character outside the allowed scripts.
function disallowedScript(name: string): string {
  anyScriptCharacter ??= ALL_SCRIPTS.split(" ").flatMap((script) => {
    try {
      return [[script.replaceAll("_", " "), new RegExp(`\\p{Script=${script}}`, "u")] as const];
    } catch { // a script this engine does not know yet
      return [];
    }
  });
  for (const char of name) {
    if (scripts().allowed.test(char)) continue;
    return anyScriptCharacter.find(([, pattern]) => pattern.test(char))?.[0] ?? "unknown";
  }
  return "unknown";
}

// The fold of every code point that can occur in a case-folded, decomposed valid name and
// does not fold to itself (see confusables_data.ts).
const FOLDS: ReadonlyMap<string, string> = parseFolds(CONFUSABLE_FOLDS);

function parseFolds(lines: readonly string[]): Map<string, string> {
  const folds = new Map<string, string>();
  for (const line of lines) {
    for (const entry of line.split(" ")) {
      const colon = entry.indexOf(":");
      folds.set(decodeHex(entry.slice(0, colon)), decodeHex(entry.slice(colon + 1)));
    }
  }
  return folds;
}

// "72.6e" -> "rn"
function decodeHex(hex: string): string {
  let text = "";
  for (let start = 0; start < hex.length;) {
    let end = hex.indexOf(".", start);
    if (end === -1) end = hex.length;
    text += String.fromCodePoint(parseInt(hex.slice(start, end), 16));
    start = end + 1;
  }
  return text;
}

// The key of each ASCII character, for the common all-ASCII name.
const ASCII_KEYS: readonly string[] = Array.from({ length: 128 }, (_, code) => {
  const char = String.fromCharCode(code).toLowerCase();
  return FOLDS.get(char) ?? char;
});
const HAS_IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;
const IGNORABLES = /\p{Default_Ignorable_Code_Point}/gu;
// A dot above on a soft-dotted letter (i, j…) shows as the letter's own dot (UTS #39 §5.5).
const DOT_ON_SOFT_DOTTED = /(?<=\p{Soft_Dotted}\p{Mn}*)\u0307/gu;

/**
 * The key two names collide on (nicks, and room names without their `#`): the UTS #39
 * confusable skeleton of the name, case-insensitive. Built as follows:
 *
 * 1. NFKC and full case folding: NFKD, then upper case, then lower case (so `ß` = `ss`,
 *    `ς` = `σ`, `ı` = `i`); default-ignorable code points removed, as UTS #39's skeleton
 *    does; NFD; a dot above on a soft-dotted letter (`i` + U+0307) dropped.
 * 2. Each code point replaced by its fold (`confusables_data.ts`, made from confusables.txt
 *    by `tests/names_test.ts`): its skeleton, the prototype it is confusable with; if that
 *    is not ASCII but the skeleton of the character's capital is, the latter (Cyrillic
 *    `в н т к м` look like small capitals, their capitals `В Н Т К М` like Latin
 *    `B H T K M`); then the skeleton of the upper case of that, lower-cased, skeleton
 *    again, so capitals that look like other letters fold too (`I` looks like `l`, so `i`,
 *    `I`, `l`, `L` and `1` all fold to `l`, and `alice`, `ALICE` and `aIice` meet at
 *    `allce`); all that repeated until the fold's own characters fold to themselves.
 * 3. NFD again.
 *
 * The key is for comparing only, never for showing. The price of its case-insensitivity:
 * `i` and `l` count as the same letter, so `alice` and `aiice` collide; as in UTS #39,
 * `0` is `o`, `1` is `l` and `m` is `rn`. It is fast: for an ASCII name, one table look-up
 * per character (about 0.2 µs a call); about 2 µs for others.
 *
 * @example
 * ```ts
 * import { equal, notEqual } from "node:assert/strict";
 * import { nameKey } from "./names.ts";
 *
 * equal(nameKey("Alice"), nameKey("alice"));
 * equal(nameKey("aIice"), nameKey("ALICE")); // capital I for l
 * equal(nameKey("\u0430lice"), nameKey("alice")); // Cyrillic а
 * equal(nameKey("ＡＬＩＣＥ"), nameKey("alice")); // full-width
 * equal(nameKey("\u0251dmin"), nameKey("admin")); // Latin alpha
 * notEqual(nameKey("alice"), nameKey("alicf"));
 * ```
 */
export function nameKey(name: string): string {
  let key = "";
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0x80) return unicodeKey(name);
    key += ASCII_KEYS[code];
  }
  return key;
}

function unicodeKey(name: string): string {
  let text = name.normalize("NFKD").toUpperCase().toLowerCase();
  if (HAS_IGNORABLE.test(text)) text = text.replace(IGNORABLES, "");
  text = text.normalize("NFD");
  if (text.includes("\u0307")) text = text.replace(DOT_ON_SOFT_DOTTED, "");
  let key = "";
  for (const char of text) key += FOLDS.get(char) ?? char;
  return key.normalize("NFD");
}

const GUEST_PREFIX = nameKey("guest-");
const DIGIT_KEYS = new Set([..."0123456789"].map((digit) => nameKey(digit)));

/**
 * True for the key (`nameKey(nick)`) of a nick that looks like a guest nick
 * (`guest-12`, or a look-alike of one): those are given by the server only, so that every node can hand
 * them out without asking the others.
 */
export function isGuestKey(key: string): boolean {
  if (!key.startsWith(GUEST_PREFIX) || key.length === GUEST_PREFIX.length) return false;
  return [...key.slice(GUEST_PREFIX.length)].every((char) => DIGIT_KEYS.has(char));
}
