/**
 * A chat room: its name, its members in join order and its history. Pure.
 *
 * @module
 */

import type { RoomHistory } from "./history.ts";

/** A room whose members are of type `M` (the hub's sessions). */
export class Room<M> {
  /** The name as first created (NFC, no `#`). */
  readonly name: string;
  /** The key rooms are told apart by (see `nameKey`). */
  readonly key: string;
  /** Members in join order. */
  readonly members = new Set<M>();
  readonly history: RoomHistory;

  constructor(name: string, key: string, history: RoomHistory) {
    this.name = name;
    this.key = key;
    this.history = history;
  }

  /** How many members are in the room. */
  get size(): number {
    return this.members.size;
  }
}
