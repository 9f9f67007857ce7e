/**
 * The password side of moderation, run by `moderation_commands.ts` and
 * `commands.ts`: `/oper`, `/register`, `/unregister`, and the claim on a
 * registered nick (`/nick NAME PASSWORD`). Passwords are checked by the
 * {@linkcode Moderation}'s hasher, off the event loop, at most
 * `MAX_PASSWORD_CHECKS` at once, under the guess throttle (per address,
 * and per nick for nicks); never logged, never echoed. Pure.
 *
 * @module
 */

import type { MaybePromise } from "./directory.ts";
import type { CommandContext } from "./commands.ts";
import type { ChatSession } from "./member.ts";
import { formatLeft, MAX_REGISTRATIONS } from "./moderation.ts";
import { isGuestKey, nameKey } from "./names.ts";

/**
 * Checks the claim of `session` on nick `key`: free when unregistered or
 * already its own; else the password must match (guesses throttled per
 * address and per nick). Resolves true when the rename may go on (the
 * error was sent otherwise).
 */
export function claimNick(
  context: CommandContext,
  session: ChatSession,
  nick: string,
  key: string,
  password: string | undefined,
): MaybePromise<boolean> {
  const { moderation, rooms } = context;
  const registration = moderation.registration(key);
  if (registration === undefined && password !== undefined) {
    rooms.error(
      session,
      "usage",
      `nick ${nick} is not registered: a password is for registered nicks only (/nick NAME)`,
    );
    return false;
  }
  if (registration === undefined || moderation.owned(session) === key) return true;
  if (password === undefined) {
    rooms.error(
      session,
      "nick_registered",
      `nick ${nick} is registered; its owner takes it with /nick ${nick} PASSWORD`,
    );
    return false;
  }
  const keys = [`address:${session.member.address}`, `nick:${key}`];
  return context.after(
    guess(context, session, keys, password, registration.hash),
    (ok) => {
      if (!ok) return false;
      moderation.setOwned(session, key);
      return true;
    },
  );
}

/**
 * Checks a password under the guess throttle (the address's and `target`'s
 * budgets); answers false after telling the member why.
 */
function guess(
  context: CommandContext,
  session: ChatSession,
  keys: readonly string[],
  password: string,
  hash: string | undefined,
): MaybePromise<boolean> {
  const { moderation, rooms } = context;
  const hasher = moderation.hasher;
  if (hasher === null) {
    rooms.error(session, "wrong_password", "passwords are not available on this server");
    return false;
  }
  const wait = moderation.guessWait(keys, context.now());
  if (wait > 0) {
    rooms.error(
      session,
      "too_many_guesses",
      `too many wrong passwords; try again in ${formatLeft(context.now() + wait, context.now())}`,
    );
    return false;
  }
  // An unknown name costs the same time as a known one.
  const verified = moderation.hashing((hasher) => hasher.verify(password, hash ?? DUMMY_HASH));
  if (verified === null) {
    rooms.error(session, "too_many_guesses", BUSY);
    return false;
  }
  const checked = verified.then((ok) => ok && hash !== undefined);
  return context.after(checked, (ok) => {
    if (ok) return true;
    moderation.guessFailed(keys, context.now());
    context.log({
      event: "moderation",
      action: "wrong_password",
      peer: session.member.peer,
      nick: session.nick,
      target: keys.at(-1),
    });
    rooms.error(session, "wrong_password", "wrong password");
    return false;
  });
}

/** The answer when `MAX_PASSWORD_CHECKS` hashes are being computed already. */
const BUSY = "the server is busy checking passwords; try again in a moment";

/** Checked against when the name is unknown (scrypt, cost 16384, a random key). */
const DUMMY_HASH =
  "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

export function oper(
  context: CommandContext,
  session: ChatSession,
  name: string,
  password: string,
): MaybePromise<void> {
  const { moderation, rooms } = context;
  const already = moderation.operatorOf(session);
  if (already !== undefined) {
    return rooms.send(session, rooms.notice(`you are already an operator (${already})`));
  }
  if (moderation.operators.size === 0) {
    return rooms.error(session, "not_operator", "this server has no operators (--operators)");
  }
  const hash = moderation.operators.get(name);
  // Per address only: a budget per operator name would let anyone lock the operator out.
  const keys = [`address:${session.member.address}`];
  return context.after(guess(context, session, keys, password, hash), (ok) => {
    if (!ok || session.ended) return;
    moderation.setOperator(session, name);
    context.log({
      event: "moderation",
      action: "oper",
      peer: session.member.peer,
      nick: session.nick,
      name,
    });
    rooms.send(session, rooms.notice(`you are now an operator (${name})`));
  });
}

export function register(
  context: CommandContext,
  session: ChatSession,
  password: string,
): MaybePromise<void> {
  const { moderation, rooms } = context;
  const key = nameKey(session.nick);
  if (isGuestKey(key)) {
    return rooms.error(
      session,
      "bad_nick",
      "guest nicks cannot be registered; take a nick with /nick first",
    );
  }
  const hasher = moderation.hasher;
  if (hasher === null) {
    return rooms.error(session, "wrong_password", "passwords are not available on this server");
  }
  if (moderation.registration(key) !== undefined) {
    return rooms.error(session, "nick_registered", `nick ${session.nick} is registered already`);
  }
  if (moderation.registrationCount >= MAX_REGISTRATIONS) {
    return rooms.error(session, "too_much", `at most ${MAX_REGISTRATIONS} nicks may be registered`);
  }
  const nick = session.nick;
  const hashed = moderation.hashing((hasher) => hasher.hash(password));
  if (hashed === null) return rooms.error(session, "too_many_guesses", BUSY);
  return context.after(hashed, (hash) => {
    if (moderation.registration(key) !== undefined) {
      return rooms.error(session, "nick_registered", `nick ${nick} is registered already`);
    }
    moderation.change({
      kind: "register",
      key,
      registration: { nick, hash, since: context.now() },
    });
    if (!session.ended) moderation.setOwned(session, key);
    context.log({ event: "moderation", action: "register", peer: session.member.peer, nick });
    rooms.send(
      session,
      rooms.notice(`nick ${nick} is registered; take it later with /nick ${nick} PASSWORD`),
    );
  });
}

export function unregister(
  context: CommandContext,
  session: ChatSession,
  nick: string | null,
): void {
  const { moderation, rooms } = context;
  const operator = moderation.operatorOf(session);
  const name = nick ?? session.nick;
  const key = nameKey(name);
  if (moderation.registration(key) === undefined) {
    return rooms.error(session, "usage", `nick ${name} is not registered`);
  }
  if (moderation.owned(session) !== key && operator === undefined) {
    return rooms.error(
      session,
      "not_operator",
      nick === null
        ? `you have not proved you own ${name}: /nick ${name} PASSWORD first`
        : `only ${name}'s owner or an operator may unregister it`,
    );
  }
  moderation.change({ kind: "unregister", key });
  if (moderation.owned(session) === key) moderation.setOwned(session, null);
  context.log({ event: "moderation", action: "unregister", peer: session.member.peer, nick: name });
  rooms.send(session, rooms.notice(`nick ${name} is no longer registered`));
}
