/**
 * `server.ts hash-password`: prints the scrypt hash of a password, for
 * the operators file (`--operators FILE`). From a terminal the password is
 * read twice without echo; from a pipe, its first line is read
 * (`printf '%s\n' "$PASSWORD" | server.ts hash-password`).
 *
 * @module
 */

import { hashPassword } from "../store/passwords.ts";
import { MAX_PASSWORD_BYTES, readHidden } from "./hidden_input.ts";

/** Reads the first line of a piped stdin (at most {@linkcode MAX_PASSWORD_BYTES} are kept). */
async function readPiped(): Promise<string> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of Deno.stdin.readable) {
    chunks.push(chunk);
    length += chunk.length;
    if (chunks.some((part) => part.includes(0x0a)) || length > MAX_PASSWORD_BYTES) break;
  }
  const text = new TextDecoder().decode(
    chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((part) => [...part])),
  );
  return text.split(/\r?\n/)[0];
}

/** Runs `hash-password`; resolves with the exit code. */
export async function runHashPassword(args: readonly string[]): Promise<number> {
  if (args.length > 0) {
    const help = args[0] === "--help" || args[0] === "-h";
    (help ? console.log : console.error)(
      "usage: server.ts hash-password   (reads the password from the terminal, " +
        "without echo, or the first line of stdin; prints its hash for --operators FILE)",
    );
    return help ? 0 : 2;
  }
  let password: string | null;
  if (Deno.stdin.isTerminal()) {
    password = await readHidden("password: ");
    if (password !== null && password !== "") {
      const again = await readHidden("again: ");
      if (again !== password) {
        console.error("hash-password: the passwords differ");
        return 1;
      }
    }
  } else password = await readPiped();
  if (password === null || password === "") {
    console.error("hash-password: no password given");
    return 1;
  }
  if (new TextEncoder().encode(password).length > MAX_PASSWORD_BYTES) {
    console.error(`hash-password: longer than ${MAX_PASSWORD_BYTES} bytes`);
    return 1;
  }
  console.log(await hashPassword(password));
  return 0;
}
