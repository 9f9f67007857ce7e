// deno-lint-ignore-file no-control-regex -- the generator matches the whole ASCII range
/**
 * Tests of the nick and room name rules (`lib/chat/names.ts`), and the generator of
 * `lib/chat/confusables_data.ts`: run as a program, this file writes that data file anew
 * (then `deno fmt` leaves it as it is):
 *
 *     npx -y deno@2.9.6 run --allow-write=lib/chat tests/names_test.ts
 *
 * @module
 */
import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
// The UTS #39 confusables.txt 13.0.0 as a map from source to prototype. With
import CONFUSABLES_JSON from "unhomoglyph/data.json" with { type: "json" };
import { CONFUSABLE_FOLDS } from "../lib/chat/confusables_data.ts";
import {
  checkNick,
  checkRoom,
  MAX_MARKS_IN_A_ROW,
  nameKey,
  normalizeRoom,
  RECOMMENDED_SCRIPTS,
} from "../lib/chat/names.ts";

const CONFUSABLES: Readonly<Record<string, string>> = CONFUSABLES_JSON;

const WIDE = "nick is too wide (over 24 columns)";
const INVISIBLE = "nick contains invisible characters";
const BLANK = "nick shows as blank";
const MARKS = "nick has too many combining marks";
const COMPATIBILITY = "nick uses full-width, styled or other compatibility characters";
const CHARACTERS =
  "nick may use only letters, digits, _ - . and must start with a letter, digit or _";

// Look-alikes of Latin names, each with the name it imitates: each must be refused by
// checkNick() or collide with it (same nameKey()); the tests below say which.
const LOOK_ALIKES: readonly (readonly [string, string])[] = [
  ["aIice", "alice"], // capital I for l
  ["al\u0131ce", "alice"], // dotless i
  ["a\u04cfice", "alice"], // Cyrillic palochka
  ["\u0251dmin", "admin"], // Latin alpha
  ["b\u0585b", "bob"], // Armenian o
  ["\u04bbelen", "helen"], // Cyrillic shha
  ["\u13aa\u13de\u13c6\u13df\u13ac", "ALICE"], // Cherokee
  ["\u0430lice", "alice"], // Cyrillic а
  ["al\u0456ce", "alice"], // Cyrillic і
  ["\u0440aypal", "paypal"], // Cyrillic р
  ["\u0430\u0440\u0440\u04cf\u0435", "apple"], // all Cyrillic
  ["\u0412\u041e\u0412", "BOB"], // all Cyrillic capitals
  ["Alice", "alice"],
  ["ALICE", "alice"],
  ["\uff21\uff2c\uff29\uff23\uff25", "alice"], // full-width
  ["\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}", "alice"], // mathematical bold
  ["al\u0131\u0307ce", "alice"], // dotless i + dot above
  ["ali\u200bce", "alice"], // zero-width space
  ["ali\u200dce", "alice"], // zero-width joiner
  ["alice\u034f", "alice"], // combining grapheme joiner
  ["alice\ufe0f", "alice"], // variation selector 16
  ["alice\u{e0100}", "alice"], // variation selector 17
  ["alice\u3164", "alice"], // Hangul filler
  ["rnary", "mary"],
  ["b0b", "bob"],
  ["user1", "userl"],
];

Deno.test({
  name: "checkNick() accepts ordinary nicks of many languages",
  permissions: "none",
  fn() {
    for (
      const good of [
        "alice",
        "Bob_2",
        "x",
        "_under",
        "user_42",
        "a.b-c",
        "a".repeat(24),
        "José",
        "Jose\u0301", // decomposed: checked as NFC
        "Zoë",
        "Łukasz",
        "Nguyễn",
        "Ренат",
        "Алиса",
        "Σωκράτης",
        "Ἀριστοτέλης",
        "山田太郎",
        "小明",
        "山田たろう", // Han + Hiragana
        "ヤマダ_タロウ", // Katakana
        "山田タロー", // Han + Katakana + prolonged sound mark
        "Taro山田", // Latin + Han
        "김철수",
        "김金", // Hangul + Han
        "明".repeat(12), // 24 columns
        "محمد",
        "דוד",
        "प्रियंका",
        "สมชาย",
        "Გიორგი",
        "Արամ",
      ]
    ) {
      equal(checkNick(good), undefined, good);
    }
  },
});

Deno.test({
  name: "checkNick() keeps the empty, length and character-set messages",
  permissions: "none",
  fn() {
    equal(checkNick(""), "nick is empty");
    equal(checkNick("a".repeat(25)), "nick is longer than 24 characters");
    for (const bad of ["a b", "-dash", ".dot", "<x>", "a\x1b", "semi;colon", "ab>", "😀"]) {
      equal(checkNick(bad), CHARACTERS, JSON.stringify(bad));
    }
    equal(checkNick("\ufdfd".repeat(24)), CHARACTERS); // a symbol, however wide
  },
});

Deno.test({
  name: "checkNick() refuses invisible and default-ignorable characters",
  permissions: "none",
  fn() {
    for (
      const invisible of [
        "\u034f", // combining grapheme joiner
        "\ufe0f", // variation selector 16
        "\u{e0100}", // variation selector 17
        "\u3164", // Hangul filler
        "\uffa0", // half-width Hangul filler
        "\u115f", // Hangul choseong filler
        "\u200b", // zero-width space
        "\u200c", // zero-width non-joiner
        "\u200d", // zero-width joiner
        "\u2060", // word joiner
        "\u00ad", // soft hyphen
        "\ufeff", // zero-width no-break space
        "\u202e", // right-to-left override
        "\u{e0041}", // tag letter A
        "\u2800", // braille pattern blank
      ]
    ) {
      const code = invisible.codePointAt(0)!.toString(16);
      equal(checkNick(`alice${invisible}`), INVISIBLE, code);
      equal(checkNick(`ali${invisible}ce`), INVISIBLE, code);
      equal(checkNick(`${invisible}alice`), INVISIBLE, code);
    }
  },
});

Deno.test({
  name: "checkNick() refuses names that show as blank",
  permissions: "none",
  fn() {
    for (const blank of ["\u3164", "\u3164\u3164", "\uffa0", "\u115f\u1160", "\u2800", " "]) {
      equal(checkNick(blank), BLANK, JSON.stringify(blank));
    }
  },
});

Deno.test({
  name: "checkNick() bounds the display width, not just the length",
  permissions: "none",
  fn() {
    equal(checkNick("a".repeat(24)), undefined);
    equal(checkNick("山".repeat(12)), undefined);
    equal(checkNick("山".repeat(13)), WIDE);
    equal(checkNick("山".repeat(24)), WIDE);
    equal(checkNick("한".repeat(13)), WIDE);
    equal(checkNick("ア".repeat(20)), WIDE);
    equal(checkNick("abcde山田たろう山田たろう"), WIDE); // 5 + 2 × 10 columns
    // Wide ligatures are compatibility characters: refused whatever their measured width.
    equal(checkNick("\ufdfa".repeat(24)), COMPATIBILITY);
    equal(checkNick("\ufdfa"), COMPATIBILITY);
  },
});

Deno.test({
  name: "checkNick() bounds combining marks, so zalgo text is refused",
  permissions: "none",
  fn() {
    equal(checkNick("z\u0351\u0300\u0352\u035cal\u0337\u0322go"), MARKS);
    equal(checkNick("h\u0336\u0321\u0327\u0328\u031b\u0340e"), MARKS);
    equal(checkNick(`a${"\u0301\u0302\u0303\u0304".slice(0, MAX_MARKS_IN_A_ROW + 1)}`), MARKS);
    equal(checkNick(`a${"\u0301\u0302\u0303\u0304".slice(0, MAX_MARKS_IN_A_ROW)}`), undefined);
    equal(checkNick("a\u0301\u0301"), MARKS); // the same mark twice
    equal(checkNick("a\u0300b\u0300c\u0300d\u0300e\u0300f\u0300g\u0300"), undefined); // 7
    equal(checkNick("a\u0300\u0301".repeat(7)), MARKS); // 14 marks, over 24 / 2
    // Precomposed letters count as in NFD: ᾧ is ω + 3 marks, ệ is e + 2.
    equal(checkNick("\u1fa7"), undefined);
    equal(checkNick("Nguy\u1ec5n"), undefined);
    equal(checkNick("\u1ec7\u1ec7\u1ec7\u1ec7\u1ec7\u1ec7\u1ec7"), MARKS); // 14 marks
  },
});

Deno.test({
  name: "checkNick() refuses names that mix scripts",
  permissions: "none",
  fn() {
    equal(checkNick("a\u04cfice"), "nick mixes scripts (Latin and Cyrillic)");
    equal(checkNick("\u0430lice"), "nick mixes scripts (Cyrillic and Latin)");
    equal(checkNick("b\u0585b"), "nick mixes scripts (Latin and Armenian)");
    equal(checkNick("\u04bbelen"), "nick mixes scripts (Cyrillic and Latin)");
    equal(checkNick("\u0440aypal"), "nick mixes scripts (Cyrillic and Latin)");
    equal(checkNick("al\u0456ce"), "nick mixes scripts (Latin and Cyrillic)");
    equal(checkNick("\u03b1lic\u0435"), "nick mixes scripts (Greek, Latin and Cyrillic)");
    equal(checkNick("user_\u0661"), "nick mixes scripts (Latin and Arabic)"); // Arabic digit
    equal(checkNick("김たろう"), "nick mixes scripts (Hangul and Hiragana)");
    equal(checkNick("Ренат山田"), "nick mixes scripts (Cyrillic and Han)");
  },
});

Deno.test({
  name: "checkNick() refuses scripts outside the UAX #31 Recommended scripts",
  permissions: "none",
  fn() {
    equal(
      checkNick("\u13aa\u13de\u13c6\u13df\u13ac"),
      "nick uses a script not allowed in names (Cherokee)",
    );
    equal(
      checkNick("\ua4ee\ua4e1\ua4f2\ua4da\ua4f0"), // Lisu ꓮꓡꓲꓚꓰ
      "nick uses a script not allowed in names (Lisu)",
    );
    equal(
      checkNick("\u146d\u14aa"), // ᑭᒪ
      "nick uses a script not allowed in names (Canadian Aboriginal)",
    );
    equal(checkNick("a\u{10300}"), "nick uses a script not allowed in names (Old Italic)");
    equal(RECOMMENDED_SCRIPTS.length, 29);
  },
});

Deno.test({
  name: "checkNick() refuses full-width, styled and other compatibility characters",
  permissions: "none",
  fn() {
    for (
      const compatibility of [
        "\uff21\uff2c\uff29\uff23\uff25", // ＡＬＩＣＥ
        "\u{1d41a}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}", // 𝐚𝐥𝐢𝐜𝐞
        "\ufb01sh", // ﬁ ligature
        "\u01c5", // ǅ
        "\uff76\uff80\uff76\uff85", // half-width katakana
        "\u2460", // circled digit one
      ]
    ) {
      equal(checkNick(compatibility), COMPATIBILITY, compatibility);
    }
  },
});

Deno.test({
  name: "checkNick() refuses or nameKey() folds every look-alike of a Latin name",
  permissions: "none",
  fn() {
    for (const [attack, victim] of LOOK_ALIKES) {
      ok(
        checkNick(attack) !== undefined || nameKey(attack) === nameKey(victim),
        `${attack} passes for ${victim}`,
      );
    }
    // Accepted, but taken by the name they imitate.
    for (const [attack, victim] of [["aIice", "alice"], ["al\u0131ce", "alice"]]) {
      equal(checkNick(attack), undefined, attack);
      equal(nameKey(attack), nameKey(victim), attack);
    }
    equal(checkNick("\u0251dmin"), undefined);
    equal(nameKey("\u0251dmin"), nameKey("admin"));
  },
});

Deno.test({
  name: "nameKey() folds case, compatibility forms and look-alikes together",
  permissions: "none",
  fn() {
    for (const [attack, victim] of LOOK_ALIKES.filter(([attack]) => !attack.includes("\u13aa"))) {
      equal(nameKey(attack), nameKey(victim), `${attack} vs ${victim}`);
    }
    const alices = ["alice", "Alice", "ALICE", "aIice", "AlIcE", "al1ce", "ａｌｉｃｅ"];
    for (const alice of alices) equal(nameKey(alice), nameKey("alice"), alice);
    equal(nameKey("Ренат"), nameKey("РЕНАТ"));
    equal(nameKey("Σωκράτης"), nameKey("ΣΩΚΡΆΤΗΣ"));
    equal(nameKey("straße"), nameKey("STRASSE"));
    equal(nameKey("İstanbul"), nameKey("istanbul"));
    equal(nameKey("José"), nameKey("Jose\u0301"));
    equal(nameKey("\u03bd\u03b5\u03bf\u03bd"), nameKey("veov")); // Greek νεον
    equal(nameKey("\u043d\u043e\u0442"), nameKey("HOT")); // Cyrillic нот
    equal(nameKey("\u043c\u0430\u043c\u0430"), nameKey("MAMA")); // Cyrillic мама
    equal(nameKey("\u041c\u0410\u041c\u0410"), nameKey("mama")); // Cyrillic МАМА
    equal(nameKey("カ"), nameKey("力")); // Katakana ka, Han chikara
    equal(nameKey("alice\u200b"), nameKey("alice")); // a /msg to a pasted name
  },
});

Deno.test({
  name: "nameKey() keeps different names apart",
  permissions: "none",
  fn() {
    const names = [
      "alice",
      "alicf",
      "bob",
      "bop",
      "José",
      "Jose",
      "Ренат",
      "Ринат",
      "山田太郎",
      "山田次郎",
      "user_42",
      "user-42",
      "user.42",
      "guest-1",
      "guest-2",
    ];
    equal(new Set(names.map(nameKey)).size, names.length);
  },
});

Deno.test({
  name: "nameKey() gives an ASCII name the key the general path gives",
  permissions: "none",
  fn() {
    // "é" sends the name down the general path; its key is its NFD.
    for (let code = 0x20; code < 0x7f; code++) {
      const char = String.fromCharCode(code);
      equal(nameKey(`${char}é`), `${nameKey(char)}e\u0301`, char);
    }
    equal(nameKey("Alice_42.x-y"), nameKey("Alice_42.x-yé").slice(0, -2));
  },
});

Deno.test({
  name: "checkRoom() drops a leading # and applies the name rules up to 32",
  permissions: "none",
  fn() {
    equal(checkRoom("#dev"), undefined);
    equal(checkRoom("dev"), undefined);
    equal(checkRoom("#"), "room name is empty");
    equal(checkRoom(""), "room name is empty");
    equal(checkRoom(`#${"r".repeat(32)}`), undefined);
    equal(checkRoom("r".repeat(33)), "room name is longer than 32 characters");
    equal(
      checkRoom("two words"),
      "room name may use only letters, digits, _ - . and must start with a letter, digit or _",
    );
    equal(checkRoom("#\u0434ev"), "room name mixes scripts (Cyrillic and Latin)");
    equal(checkRoom("#dev\u200b"), "room name contains invisible characters");
    equal(checkRoom("#\u3164"), "room name shows as blank");
    equal(checkRoom("#" + "部".repeat(16)), undefined);
    equal(checkRoom("#" + "部".repeat(17)), "room name is too wide (over 32 columns)");
    equal(
      checkRoom("#\uff44\uff45\uff56"),
      "room name uses full-width, styled or other " +
        "compatibility characters",
    );
    equal(checkRoom("#a\u0300\u0301\u0302\u0303"), "room name has too many combining marks");
    equal(
      checkRoom("#\u13aa\u13de\u13c6\u13df\u13ac"),
      "room name uses a script not allowed in names (Cherokee)",
    );
    equal(nameKey(normalizeRoom("#DEV")), nameKey(normalizeRoom("dev")));
  },
});

Deno.test({
  name: "normalizeRoom() gives the NFC name without its #",
  permissions: "none",
  fn() {
    equal(normalizeRoom("#dev"), "dev");
    equal(normalizeRoom("dev"), "dev");
    equal(normalizeRoom("##dev"), "#dev");
    equal(normalizeRoom("#cafe\u0301"), "caf\u00e9");
  },
});

Deno.test({
  name: "confusables_data.ts is what its generator makes from unhomoglyph@1.0.6",
  permissions: "none",
  fn() {
    deepEqual(generateFolds(CONFUSABLES), CONFUSABLE_FOLDS);
    notEqual(CONFUSABLE_FOLDS.length, 0);
  },
});

Deno.test({
  name: "nameKey() of a key is the key itself",
  permissions: "none",
  fn() {
    const folded = CONFUSABLE_FOLDS.flatMap((line) => line.split(" ")).map((entry) =>
      String.fromCodePoint(...entry.split(":")[0].split(".").map((hex) => parseInt(hex, 16)))
    );
    ok(folded.length > 1000);
    const names = [...folded, ...LOOK_ALIKES.flat(), "Σωκράτης", "山田たろう", "MAMA", "Ренат"];
    for (const name of names) equal(nameKey(nameKey(name)), nameKey(name), name);
  },
});

/**
 * The lines of `confusables_data.ts`: for every code point that can occur in the
 * case-folded, decomposed form of a valid name (NFKD, upper then lower case, default
 * ignorables dropped, NFD, as `nameKey()` makes it) and that does not fold to itself,
 * `c:f`, the code point and its fold in hex (`.` between the code points of a sequence).
 * The fold is the one `nameKey()` documents.
 */
function generateFolds(confusables: Readonly<Record<string, string>>): string[] {
  const skeleton = (text: string) => {
    let out = "";
    for (const char of text.normalize("NFD")) out += confusables[char] ?? char;
    return out.normalize("NFD");
  };
  const isAscii = (text: string) => /^[\x00-\x7f]*$/.test(text);
  const fold = (char: string) => {
    let prototype = skeleton(char);
    if (!isAscii(prototype)) {
      const capital = skeleton(char.toUpperCase());
      if (isAscii(capital)) prototype = capital;
    }
    return skeleton(skeleton(prototype.toUpperCase()).toLowerCase());
  };
  // Folded again until nothing changes, so that a key's characters fold to themselves.
  const foldAll = (char: string) => {
    for (let text = char, rounds = 0; rounds < 8; rounds++) {
      const next = [...text].map(fold).join("").normalize("NFD");
      if (next === text) return text;
      text = next;
    }
    throw new Error(`the fold of U+${char.codePointAt(0)!.toString(16)} does not settle`);
  };
  const caseFold = (text: string) =>
    text.normalize("NFKD").toUpperCase().toLowerCase()
      .replace(/\p{Default_Ignorable_Code_Point}/gu, "").normalize("NFD");
  const scripts = ["Common", "Inherited", ...RECOMMENDED_SCRIPTS]
    .map((script) => `\\p{Script_Extensions=${script}}`).join("");
  const valid = new RegExp(`^(?=[\\p{L}\\p{N}\\p{M}_.-])[${scripts}]$`, "u");
  const domain = new Set(["\u03c2"]); // final sigma: lower case in context only
  for (let code = 0; code <= 0x10ffff; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const char = String.fromCodePoint(code);
    if (valid.test(char)) { for (const folded of caseFold(char)) domain.add(folded); }
  }
  const hex = (text: string) =>
    [...text].map((char) => char.codePointAt(0)!.toString(16)).join(".");
  const entries = [...domain]
    .sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!)
    .filter((char) => foldAll(char) !== char)
    .map((char) => `${hex(char)}:${hex(foldAll(char))}`);
  const lines = [];
  let line = "";
  for (const entry of entries) {
    if (line !== "" && line.length + 1 + entry.length > 92) {
      lines.push(line);
      line = "";
    }
    line = line === "" ? entry : `${line} ${entry}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

const HEADER = `/**
 * The confusable folds behind \`nameKey()\` (\`names.ts\`). GENERATED: do not edit. Made by
 * \`npx -y deno@2.9.6 run --allow-write=lib/chat tests/names_test.ts\`; a test in that file
 * checks that this table is still what its generator makes.
 *
 * Source: \`data.json\` of npm \`unhomoglyph@1.0.6\` (MIT), that is \`confusables.txt\` of
 * Unicode Technical Standard #39 (Unicode Security Mechanisms), version 13.0.0, as a map
 * from each source code point to its prototype. When this table was made, that data gave the
 * same skeleton, for every code point, as ICU 72.1 (Unicode 15.0, Debian libicu72) does.
 *
 * Each entry \`c:f\` maps the code point \`c\` (hex) to its fold \`f\` (hex code points,
 * \`.\` between them), for every code point that can occur in the case-folded, decomposed
 * form of a valid name (letters, digits and marks of the scripts \`names.ts\` allows, \`_\`,
 * \`-\`, \`.\`) and whose fold is not itself. \`nameKey()\` documents the fold.
 *
 * @module
 */

`;

const EXPORT_DOC =
  `/** The fold entries, \`c:f\` separated by spaces, a few per line (see above). */
`;

if (import.meta.main) {
  const lines = generateFolds(CONFUSABLES).map((line) => `  "${line}",\n`).join("");
  Deno.writeTextFileSync(
    new URL("../lib/chat/confusables_data.ts", import.meta.url),
    `${HEADER}${EXPORT_DOC}export const CONFUSABLE_FOLDS: readonly string[] = [\n${lines}];\n`,
  );
}
