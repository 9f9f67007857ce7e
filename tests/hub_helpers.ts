/**
 * Fake members and a fake clock for the pure hub tests: no sockets, every
 * event recorded as the member would receive it.
 *
 * @module
 */

import type { Outgoing, WireFormat } from "../lib/chat/events.ts";
import {
  type ChatDirectory,
  type DirectoryListener,
  LocalDirectory,
  type MemberRef,
  type RoomEntry,
  type RoomEnvelope,
} from "../lib/chat/directory.ts";
import type { RoomCount } from "../lib/chat/events.ts";
import type { HistoryEntry, HistoryLimits } from "../lib/chat/history.ts";
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
 * The in-memory directory, but whose `claim` and `enter` answer only when
 * the test says so (as another node over Redis would), to test the hub's
 * asynchronous paths.
 */
export class DeferredDirectory implements ChatDirectory {
  readonly #inner: LocalDirectory;
  readonly #waiting: (() => void)[] = [];
  /** Overrides the cursor `enter` answers with. */
  cursor: number | null = null;

  constructor(history: HistoryLimits) {
    this.#inner = new LocalDirectory(history);
  }

  /** Answers the oldest deferred call. */
  answerNext(): void {
    this.#waiting.shift()?.();
  }

  /** Calls waiting for an answer. */
  get waiting(): number {
    return this.#waiting.length;
  }

  get nodeId(): string {
    return this.#inner.nodeId;
  }

  get historyBytes(): number {
    return this.#inner.historyBytes;
  }

  claim(key: string, ref: MemberRef): Promise<boolean> {
    return new Promise((resolve) => this.#waiting.push(() => resolve(this.#inner.claim(key, ref))));
  }

  enter(ref: MemberRef, nick: string, roomKey: string, name: string): Promise<RoomEntry> {
    return new Promise((resolve) =>
      this.#waiting.push(() => {
        const entry = this.#inner.enter(ref, nick, roomKey, name);
        resolve(this.cursor === null ? entry : { ...entry, cursor: this.cursor });
      })
    );
  }

  attach(listener: DirectoryListener): void {
    this.#inner.attach(listener);
  }
  guest(ref: MemberRef): string {
    return this.#inner.guest(ref);
  }
  release(key: string, ref: MemberRef): void {
    this.#inner.release(key, ref);
  }
  leave(ref: MemberRef, key: string): void {
    this.#inner.leave(ref, key);
  }
  find(key: string): MemberRef | null {
    return this.#inner.find(key);
  }
  online(): number {
    return this.#inner.online();
  }
  exit(ref: MemberRef, roomKey: string): number {
    return this.#inner.exit(ref, roomKey);
  }
  renamed(ref: MemberRef, nick: string): void {
    this.#inner.renamed(ref, nick);
  }
  members(roomKey: string): string[] {
    return this.#inner.members(roomKey);
  }
  rooms(): RoomCount[] {
    return this.#inner.rooms();
  }
  publish(roomKey: string, envelope: RoomEnvelope, elsewhere?: boolean): boolean {
    return this.#inner.publish(roomKey, envelope, elsewhere);
  }
  history(roomKey: string): HistoryEntry[] {
    return this.#inner.history(roomKey);
  }
  send(): boolean {
    return false;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
