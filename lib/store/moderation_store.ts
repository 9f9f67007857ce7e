/**
 * Moderation on disk: bans, registered nicks and room topics in the
 * embedded store's `bans`, `registrations` and `topics` tables (schema
 * version 2). Loaded once at start ({@linkcode ModerationStore.load});
 * every change after is written at once, in its own transaction (they are
 * rare and small: an operator's command, a registration), so a change that
 * was answered survives a `kill -9`. Mutes and operator logins belong to a
 * connection and are not stored.
 *
 * A failure to write is logged once per change; memory stays right, and
 * the change is lost at the next restart (the log line says so).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { ModerationChange, ModerationSink } from "../chat/moderation.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";

interface BanRow {
  mask: string;
  reason: string;
  by_name: string;
  since: number;
  until: number | null;
}

interface RegistrationRow {
  key: string;
  nick: string;
  hash: string;
  since: number;
}

interface TopicRow {
  key: string;
  room: string;
  text: string;
  by_name: string;
  ts: number;
}

/** The moderation tables of one store. */
export class ModerationStore implements ModerationSink {
  readonly #db: DatabaseSync;
  readonly #log: Logger;
  readonly #label: string;

  constructor(db: DatabaseSync, options: { logger?: Logger; label?: string } = {}) {
    this.#db = db;
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#label = options.label ?? "the store";
  }

  /** Everything stored, as changes to apply (expired bans are left out and deleted). */
  load(now: number): ModerationChange[] {
    const db = this.#db;
    db.prepare("DELETE FROM bans WHERE until IS NOT NULL AND until <= ?").run(now);
    const changes: ModerationChange[] = [];
    for (const row of db.prepare("SELECT * FROM bans").all() as unknown as BanRow[]) {
      changes.push({
        kind: "ban",
        ban: {
          mask: row.mask,
          reason: row.reason,
          by: row.by_name,
          since: row.since,
          until: row.until,
        },
      });
    }
    const registrations = db.prepare("SELECT * FROM registrations")
      .all() as unknown as RegistrationRow[];
    for (const row of registrations) {
      changes.push({
        kind: "register",
        key: row.key,
        registration: { nick: row.nick, hash: row.hash, since: row.since },
      });
    }
    for (const row of db.prepare("SELECT * FROM topics").all() as unknown as TopicRow[]) {
      changes.push({
        kind: "topic",
        key: row.key,
        topic: { room: row.room, text: row.text, by: row.by_name, ts: row.ts },
      });
    }
    return changes;
  }

  record(change: ModerationChange): void {
    const db = this.#db;
    try {
      switch (change.kind) {
        case "remote": // an action for another node's member: nothing to keep
          return;
        case "ban": {
          const { mask, reason, by, since, until } = change.ban;
          db.prepare("INSERT OR REPLACE INTO bans VALUES (?, ?, ?, ?, ?)")
            .run(mask, reason, by, since, until);
          return;
        }
        case "unban":
          db.prepare("DELETE FROM bans WHERE mask = ?").run(change.mask);
          return;
        case "register": {
          const { nick, hash, since } = change.registration;
          db.prepare("INSERT OR REPLACE INTO registrations VALUES (?, ?, ?, ?)")
            .run(change.key, nick, hash, since);
          return;
        }
        case "unregister":
          db.prepare("DELETE FROM registrations WHERE key = ?").run(change.key);
          return;
        case "topic": {
          const topic = change.topic;
          if (topic === null) db.prepare("DELETE FROM topics WHERE key = ?").run(change.key);
          else {
            db.prepare("INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?, ?)")
              .run(change.key, topic.room, topic.text, topic.by, topic.ts);
          }
        }
      }
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      this.#log({
        event: "warning",
        reason: `store: cannot write a ${change.kind} to ${this.#label} (${problem}); ` +
          "it holds until the next restart only",
      });
    }
  }
}
