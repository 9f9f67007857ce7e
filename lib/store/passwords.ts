/**
 * Password hashes for operators and registered nicks: scrypt from
 * `node:crypto`, run off the event loop (the async `crypto.scrypt` runs in
 * libuv's thread pool), compared in constant time.
 *
 * A hash is one line of text that carries its own parameters, so a file of
 * hashes made with other costs keeps working:
 *
 * ```
 * scrypt$N$r$p$SALT$KEY        (SALT and KEY in base64)
 * scrypt$16384$8$1$3q2+7w...$Yk9v...
 * ```
 *
 * @module
 */

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import type { PasswordHasher } from "../chat/moderation.ts";

/** scrypt's cost of new hashes (N), about 50 ms on one core. */
export const SCRYPT_COST = 16384;
/** Bytes of a key derived from a password. */
const KEY_BYTES = 32;
/** Bytes of random salt per hash. */
const SALT_BYTES = 16;
/** Highest cost a stored hash may ask for (bounds the memory one check takes: 128 · N · r bytes). */
const MAX_COST = 2 ** 20;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password,
      salt,
      KEY_BYTES,
      { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 },
      (error, key) => error === null ? resolve(key) : reject(error),
    )
  );
}

/** Hashes `password` with a fresh salt (`cost`: scrypt's N, a power of two). */
export async function hashPassword(password: string, cost = SCRYPT_COST): Promise<string> {
  if (!Number.isInteger(Math.log2(cost)) || cost < 2 || cost > MAX_COST) {
    throw new RangeError(`scrypt cost must be a power of two from 2 to ${MAX_COST}, got ${cost}`);
  }
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost, 8, 1);
  return `scrypt$${cost}$8$1$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Why `hash` is not a hash this module can check, or null when it is. */
export function hashProblem(hash: string): string | null {
  const parts = hash.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return "not an scrypt$N$r$p$SALT$KEY hash";
  const [n, r, p] = parts.slice(1, 4).map(Number);
  if (!Number.isInteger(Math.log2(n)) || n < 2 || n > MAX_COST) {
    return `bad scrypt cost ${parts[1]}`;
  }
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) {
    return "bad scrypt r or p";
  }
  if (parts[4] === "" || parts[5] === "") return "empty salt or key";
  return null;
}

/** True when `password` matches `hash`; false for a wrong password or a malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (hashProblem(hash) !== null) return false;
  const parts = hash.split("$");
  const expected = Buffer.from(parts[5], "base64");
  if (expected.length === 0) return false;
  const key = await derive(
    password,
    Buffer.from(parts[4], "base64"),
    Number(parts[1]),
    Number(parts[2]),
    Number(parts[3]),
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** The scrypt {@linkcode PasswordHasher} the server uses. */
export const scryptHasher: PasswordHasher = {
  hash: (password) => hashPassword(password),
  verify: verifyPassword,
};
