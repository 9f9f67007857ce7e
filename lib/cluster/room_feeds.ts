/**
 * The rooms a node listens to: one Redis subscription per room with
 * members on this node, each with its {@linkcode RoomSequencer}, caught up
 * from the room's stream when its numbers jump or its subscription comes
 * back.
 *
 * A feed whose set-up failed (Redis down) stays, keeps what arrives
 * (bounded), and is set up again when the link is back: a room entered
 * during an outage still gets its events afterwards.
 *
 * @module
 */

import type { RoomEnvelope } from "../chat/directory.ts";
import type { ChatEvent } from "../chat/events.ts";
import type { RedisLink } from "./redis_link.ts";
import type { ClusterKeys } from "./scripts.ts";
import { MAX_BUFFERED_EVENTS, RoomSequencer, type SequencerAction } from "./sequencer.ts";

/** Where a feed's events go. */
export interface FeedListener {
  roomEvent(roomKey: string, envelope: RoomEnvelope): void;
  roomGap(roomKey: string): void;
  roomReset(roomKey: string): void;
}

interface Feed {
  sequencer: RoomSequencer;
  /** This node's members in the room, entering ones included. */
  members: number;
  /** The room's state has been read: the sequencer is in step. */
  synced: boolean;
  /** Events that came before the state was read, replayed after it (bounded). */
  early: string[];
  /** Some early events were dropped: catch up from the stream after the set-up. */
  overflowed: boolean;
  /** The set-up under way, if any. */
  setup: Promise<void> | null;
}

/** The payload of a room event in the stream and on the channel. */
export function encodeEnvelope(envelope: RoomEnvelope): string {
  return JSON.stringify({
    e: envelope.event,
    t: envelope.ts,
    o: envelope.origin,
    x: envelope.echo,
  });
}

/** A room event's payload, or null when it is not one. */
export function parseEnvelope(payload: string): RoomEnvelope | null {
  try {
    const { e, t, o, x } = JSON.parse(payload);
    return { event: e as ChatEvent, ts: Number(t), origin: o ?? null, echo: x === true };
  } catch {
    return null;
  }
}

/** This node's room subscriptions; see the module documentation. */
export class RoomFeeds {
  readonly #link: RedisLink;
  readonly #keys: ClusterKeys;
  readonly #listener: () => FeedListener | null;
  readonly #feeds = new Map<string, Feed>();
  /** Rooms whose channel is subscribed (as far as this node asked). */
  readonly #channels = new Set<string>();
  /** Per room, the subscribe or unsubscribe under way: one at a time, in order. */
  readonly #channelSteps = new Map<string, Promise<void>>();

  constructor(link: RedisLink, keys: ClusterKeys, listener: () => FeedListener | null) {
    this.#link = link;
    this.#keys = keys;
    this.#listener = listener;
  }

  /** True while this node has members in `roomKey` (entering ones included). */
  has(roomKey: string): boolean {
    return this.#feeds.has(roomKey);
  }

  /** This node's members in a room (entering ones included). */
  get memberCount(): number {
    let count = 0;
    for (const feed of this.#feeds.values()) count += feed.members;
    return count;
  }

  /**
   * A member of this node enters `roomKey`: resolves once the room's feed
   * is in step; rejects when Redis cannot be reached (the feed stays, and
   * is set up again when it can).
   */
  async enter(roomKey: string): Promise<void> {
    let feed = this.#feeds.get(roomKey);
    if (feed === undefined) {
      feed = {
        sequencer: new RoomSequencer(null, 0),
        members: 0,
        synced: false,
        early: [],
        overflowed: false,
        setup: null,
      };
      this.#feeds.set(roomKey, feed);
    }
    feed.members++;
    await this.#setUp(roomKey, feed);
  }

  /** A member of this node left `roomKey`; the last one ends the subscription. */
  exit(roomKey: string): void {
    const feed = this.#feeds.get(roomKey);
    if (feed === undefined || --feed.members > 0) return;
    this.#feeds.delete(roomKey);
    this.#link.background(this.#channel(roomKey));
  }

  /**
   * Brings the room's subscription in line with its feed (subscribed while
   * it has one, else not), after the steps under way for the room: a
   * subscribe and an unsubscribe never race (the one that went second
   * could undo the first, or a channel get a second listener: lines
   * doubled, or none at all). Resolves once it is in line.
   */
  #channel(roomKey: string, again = false): Promise<void> {
    const before = this.#channelSteps.get(roomKey) ?? Promise.resolve();
    const step = before.then(async () => {
      const channel = this.#keys.roomChannel(roomKey);
      const wanted = this.#feeds.has(roomKey);
      if (wanted && again && this.#channels.has(roomKey)) {
        // After a failover: made again on the slot's new master (node-redis
        // keeps a listener it already has once, and sends nothing for it).
        await this.#link.subscribe(channel, this.#onMessage);
      } else if (wanted && !this.#channels.has(roomKey)) {
        await this.#link.subscribe(channel, this.#onMessage);
        this.#channels.add(roomKey);
      } else if (!wanted && this.#channels.has(roomKey)) {
        this.#channels.delete(roomKey);
        await this.#link.unsubscribe(channel, this.#onMessage);
      }
    });
    const settled = step.catch(() => {});
    this.#channelSteps.set(roomKey, settled);
    settled.then(() => {
      if (this.#channelSteps.get(roomKey) === settled) this.#channelSteps.delete(roomKey);
    });
    return step;
  }

  /** Every room channel's one listener (one function: a channel never gets it twice). */
  readonly #onMessage = (message: string, channel: string): void => {
    const roomKey = this.#keys.roomOfChannel(channel);
    const feed = this.#feeds.get(roomKey);
    if (feed !== undefined) this.#receive(roomKey, feed, message);
  };

  /**
   * After the link came back: set up the feeds that are not, and catch the
   * others up from their streams.
   */
  async catchUp(): Promise<void> {
    if (this.#link.cluster) {
      // A failover dropped the subscriptions on the dead master: made again
      // on the new one (a subscription still in place is left as it is).
      for (const roomKey of [...this.#channels]) {
        await this.#link.attempt(() => this.#channel(roomKey, true));
      }
    }
    for (const [roomKey, feed] of this.#feeds) {
      await this.#link.attempt(() => this.#catchUpFeed(roomKey, feed));
    }
  }

  async #catchUpFeed(roomKey: string, feed: Feed): Promise<void> {
    if (!feed.synced) return await this.#setUp(roomKey, feed);
    const before = feed.sequencer.epoch;
    const [epoch, seq] = await this.#roomState(roomKey);
    // A live event of a new numbering came while this was read: it is
    // newer than what was read, and its own jump is filled by itself.
    if (feed.sequencer.epoch !== before) return;
    this.#act(roomKey, feed, feed.sequencer.resync(epoch, seq));
  }

  /** Subscribes first, then reads where the room stands, then replays what came meanwhile. */
  #setUp(roomKey: string, feed: Feed): Promise<void> {
    if (feed.synced) return Promise.resolve();
    feed.setup ??= (async () => {
      try {
        await this.#channel(roomKey);
        if (this.#feeds.get(roomKey) !== feed) return; // everyone left meanwhile
        const [epoch, seq] = await this.#roomState(roomKey);
        feed.sequencer.epoch = epoch;
        feed.sequencer.last = seq;
        feed.synced = true;
        const early = feed.early.splice(0);
        for (const message of early) this.#receive(roomKey, feed, message);
        if (feed.overflowed) {
          feed.overflowed = false;
          const [nowEpoch, nowSeq] = await this.#roomState(roomKey);
          this.#act(roomKey, feed, feed.sequencer.resync(nowEpoch, nowSeq));
        }
      } finally {
        feed.setup = null;
      }
    })();
    return feed.setup;
  }

  async #roomState(roomKey: string): Promise<[string | null, number]> {
    const [epoch, seq] = await this.#link.client.mGet([
      this.#keys.epoch(roomKey),
      this.#keys.seq(roomKey),
    ]);
    return [epoch, Number(seq ?? 0)];
  }

  #receive(roomKey: string, feed: Feed, message: string): void {
    if (!feed.synced) {
      if (feed.early.length < MAX_BUFFERED_EVENTS) feed.early.push(message);
      else feed.overflowed = true;
      return;
    }
    const first = message.indexOf(" ");
    const second = message.indexOf(" ", first + 1);
    if (first < 0 || second < 0) return;
    const epoch = message.slice(0, first);
    const seq = Number(message.slice(first + 1, second));
    this.#act(roomKey, feed, feed.sequencer.receive(epoch, seq, message.slice(second + 1)));
  }

  #act(roomKey: string, feed: Feed, actions: SequencerAction[]): void {
    const listener = this.#listener();
    for (const action of actions) {
      if (action.kind === "deliver") {
        const envelope = parseEnvelope(action.payload);
        if (envelope === null) continue;
        envelope.seq = action.seq; // freshly parsed: ours to complete
        listener?.roomEvent(roomKey, envelope);
      } else if (action.kind === "gap") listener?.roomGap(roomKey);
      else if (action.kind === "reset") listener?.roomReset(roomKey);
      else this.#link.background(this.#fill(roomKey, feed, action.from, action.to));
    }
  }

  async #fill(roomKey: string, feed: Feed, from: number, to: number): Promise<void> {
    try {
      const entries = await this.#link.client.xRange(
        this.#keys.stream(roomKey),
        `${from}-1`,
        `${to}-1`,
      );
      const filled = entries.map((entry) => ({
        seq: Number(entry.id.split("-")[0]),
        payload: String(entry.message.p),
      }));
      this.#act(roomKey, feed, feed.sequencer.filled(filled));
    } catch (error) {
      feed.sequencer.fillFailed(); // tried again on the next catch-up
      throw error;
    }
  }
}
