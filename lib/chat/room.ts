/**
 * A chat room: its members in join order and a bounded history of its last
 * messages.
 *
 * @module
 */

/** What a room needs of a member: a way to take a line. */
export interface RoomMember {
  /** Queues an encoded line for this member (never blocks). */
  send(line: Uint8Array): void;
  readonly nick: string;
}

/** A room with a member set and a ring of its last `historySize` messages. */
export class Room<M extends RoomMember = RoomMember> {
  readonly name: string;
  readonly members = new Set<M>();
  readonly #history: string[] = [];
  readonly #historySize: number;
  #historyStart = 0;

  constructor(name: string, historySize: number) {
    this.name = name;
    this.#historySize = historySize;
  }

  /** Sends `line` to every member except `except` (usually the sender). */
  broadcast(line: Uint8Array, except?: M): void {
    for (const member of this.members) {
      if (member !== except) member.send(line);
    }
  }

  /** Records a message line (already formatted) for replay on join. */
  remember(line: string): void {
    if (this.#historySize === 0) return;
    if (this.#history.length < this.#historySize) {
      this.#history.push(line);
    } else {
      this.#history[this.#historyStart] = line;
      this.#historyStart = (this.#historyStart + 1) % this.#historySize;
    }
  }

  /** The remembered lines, oldest first. */
  history(): string[] {
    return [
      ...this.#history.slice(this.#historyStart),
      ...this.#history.slice(0, this.#historyStart),
    ];
  }

  /** Member nicks in join order. */
  nicks(): string[] {
    return [...this.members].map((member) => member.nick);
  }
}
