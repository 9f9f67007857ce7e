/**
 * Fake members and a fake clock for the pure hub tests: no sockets, every
 * event recorded as the member would receive it.
 *
 * @module
 */

import type { Outgoing, WireFormat } from "../lib/chat/events.ts";
import {
  type ChatDirectory,
  LocalDirectory,
  type MemberRef,
  type RoomEntry,
} from "../lib/chat/directory.ts";
import {
  ChatHub,
  type ChatHubOptions,
  type ChatMember,
  type ChatSession,
  type MemberClose,
} from "../lib/chat/hub.ts";

/** A clock the test moves by hand. */
export class FakeClock {
  now = Date.UTC(2026, 10, 22, 12, 0, 0);
  /** The clock function to give the hub. */
  readonly read = (): number => this.now;
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.now += ms;
  }
}

/** A member that records what it receives and may refuse it (a full queue). */
export class FakeMember implements ChatMember {
  readonly peer: string;
  readonly address: string;
  readonly transport = "fake";
  format: WireFormat;
  /** Events received, in order. */
  readonly received: Outgoing[] = [];
  /** How the hub closed it, if it did. */
  closed: MemberClose | null = null;
  closeCalls = 0;
  /** Deliveries it still accepts before it refuses (Infinity: never full). */
  capacity = Infinity;
  session!: ChatSession;

  constructor(options: { address?: string; port?: number; format?: WireFormat } = {}) {
    this.address = options.address ?? "192.0.2.1";
    this.peer = `${this.address}:${options.port ?? 40000}`;
    this.format = options.format ?? "text";
  }

  deliver(event: Outgoing): boolean {
    if (event.bytes(this.format) === null) return true;
    if (this.capacity <= 0) return false;
    this.capacity--;
    this.received.push(event);
    return true;
  }

  close(close: MemberClose): void {
    this.closeCalls++;
    this.closed = close;
  }

  /** The received text lines (each event may carry several), oldest first. */
  lines(): string[] {
    return this.received.flatMap((event) => event.text === null ? [] : event.text.split("\n"));
  }

  /** The received text lines, then forgets them. */
  take(): string[] {
    const lines = this.lines();
    this.received.length = 0;
    return lines;
  }

  /** The JSON objects received (for JSON members). */
  json(): Record<string, unknown>[] {
    return this.received.map((event) => JSON.parse(event.json()));
  }

  /** The nick the hub gave it. */
  get nick(): string {
    return this.session.nick;
  }
}

/** A hub with a fake clock and helpers to connect fake members. */
export function testHub(options: ChatHubOptions & { directory?: ChatDirectory } = {}) {
  const clock = new FakeClock();
  const hub = new ChatHub({ clock: clock.read, ...options });
  const connect = (member = new FakeMember()): FakeMember => {
    member.session = hub.connect(member);
    return member;
  };
  /** Connects `count` members and clears what they have received. */
  const room = (count: number): FakeMember[] => {
    const members = Array.from({ length: count }, () => connect());
    for (const member of members) member.take();
    return members;
  };
  const say = (member: FakeMember, ...lines: string[]) => {
    for (const line of lines) hub.input(member.session, line);
  };
  return { hub, clock, connect, room, say };
}

/**
 * The in-memory directory, but whose `rename` and `enter` answer only when
 * the test says so (as another node over Redis would), to test the hub's
 * asynchronous paths.
 */
export class DeferredDirectory extends LocalDirectory {
  override readonly answersAtOnce = false;
  readonly #waiting: (() => void)[] = [];
  /** Overrides the cursor `enter` answers with. */
  cursor: number | null = null;

  /** Answers the oldest deferred call. */
  answerNext(): void {
    this.#waiting.shift()?.();
  }

  /** Calls waiting for an answer. */
  get waiting(): number {
    return this.#waiting.length;
  }

  // @ts-expect-error: answers later, as a directory shared by several processes may
  override rename(ref: MemberRef, oldKey: string, key: string, nick: string): Promise<boolean> {
    return this.#later(() => super.rename(ref, oldKey, key, nick));
  }

  // @ts-expect-error: answers later, as a directory shared by several processes may
  override enter(
    ref: MemberRef,
    nick: string,
    roomKey: string,
    name: string,
    historyLines: number,
  ): Promise<RoomEntry> {
    return this.#later(() => {
      const entry = super.enter(ref, nick, roomKey, name, historyLines);
      return this.cursor === null ? entry : { ...entry, cursor: this.cursor };
    });
  }

  #later<T>(answer: () => T): Promise<T> {
    return new Promise((resolve) => this.#waiting.push(() => resolve(answer())));
  }
}
