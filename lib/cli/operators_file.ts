/**
 * The operators file of `--operators FILE`: one operator per line, a name
 * and a password hash (made by `server.ts hash-password`), separated by
 * spaces; blank lines and lines starting with `#` are skipped.
 *
 * ```
 * # Parley operators: NAME HASH
 * root scrypt$16384$8$1$3q2+7w5ZbYw9lPz0d5x1dA==$Yk9vT0xH...
 * ```
 *
 * Names are 1 to 32 letters, digits, `_`, `-` or `.`, each once. A line
 * that is not right stops the server at start, naming the line. The file
 * is read once at start (restart the server to apply a change); it should
 * be readable by the server's user only (`chmod 600`).
 *
 * @module
 */

import { hashProblem } from "../store/passwords.ts";

/** Largest operators file read. */
export const MAX_OPERATORS_FILE_BYTES = 1024 * 1024;

/**
 * Parses the text of an operators file (`file` names it in errors);
 * throws a `RangeError` naming the first bad line.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { parseOperators } from "./operators_file.ts";
 *
 * const hash = "scrypt$16384$8$1$c2FsdA==$a2V5";
 * equal(parseOperators(`# ops\nroot ${hash}\n`, "ops.txt").get("root"), hash);
 * ```
 */
export function parseOperators(text: string, file: string): Map<string, string> {
  const operators = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `${file} line ${index + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) {
      throw new RangeError(`${where}: expected NAME HASH (see server.ts hash-password)`);
    }
    const [name, hash] = fields;
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
      throw new RangeError(`${where}: operator name must be 1-32 letters, digits, _ - or .`);
    }
    if (operators.has(name)) throw new RangeError(`${where}: operator ${name} is listed twice`);
    const problem = hashProblem(hash);
    if (problem !== null) {
      throw new RangeError(`${where}: ${problem} (see server.ts hash-password)`);
    }
    operators.set(name, hash);
  });
  return operators;
}

/** The operators file cannot be read or is wrong (the server does not start). */
export class OperatorsFileError extends Error {
  override name = "OperatorsFileError";
}

/** Reads and parses an operators file; throws an {@linkcode OperatorsFileError} saying what is wrong. */
export async function readOperators(path: string): Promise<Map<string, string>> {
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_OPERATORS_FILE_BYTES) {
      throw new RangeError(`${path}: larger than ${MAX_OPERATORS_FILE_BYTES} bytes`);
    }
    return parseOperators(await Deno.readTextFile(path), path);
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    throw new OperatorsFileError(
      error instanceof RangeError ? problem : `cannot read --operators ${path}: ${problem}`,
      { cause: error },
    );
  }
}
