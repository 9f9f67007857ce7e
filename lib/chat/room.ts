/**
 * A room as one node sees it: its name and its members on this node, in
 * join order (who else is in it, on other nodes, is the directory's). Pure.
 *
 * @module
 */

/** A room whose local members are of type `M` (the hub's sessions). */
export class Room<M> {
  /** The name as first created (NFC, no `#`), anywhere in the cluster. */
  name: string;
  /** The key rooms are told apart by (see `nameKey`). */
  readonly key: string;
  /** Members on this node, in join order. */
  readonly members = new Set<M>();

  constructor(name: string, key: string) {
    this.name = name;
    this.key = key;
  }

  /** How many members of this node are in the room. */
  get size(): number {
    return this.members.size;
  }
}
