/**
 * What the chat's transports share: a hub member that receives lines of
 * text and sends events through one {@linkcode Outbound} (bounded, one
 * write in flight), closed once. A transport supplies the writer and how
 * its connection closes.
 *
 * @module
 */

import type { Outgoing, WireFormat } from "../chat/events.ts";
import type { ChatHub, ChatMember, ChatSession, MemberClose } from "../chat/hub.ts";
import type { LineSink } from "../framing/line_codec.ts";
import { decodeLine } from "../framing/utf8.ts";
import { type ByteWriter, Outbound } from "../net/outbound.ts";

/** A chat member over some transport; see the module documentation. */
export abstract class LineMember implements ChatMember, LineSink {
  abstract readonly transport: string;
  readonly peer: string;
  readonly address: string;
  format: WireFormat;
  protected readonly hub: ChatHub;
  protected readonly outbound: Outbound;
  protected session!: ChatSession;
  /** How the hub closed it, once it has. */
  protected closing: MemberClose | null = null;

  constructor(
    peer: string,
    address: string,
    format: WireFormat,
    hub: ChatHub,
    writer: ByteWriter | Outbound,
    maxQueueBytes: number,
  ) {
    this.peer = peer;
    this.address = address;
    this.format = format;
    this.hub = hub;
    this.outbound = writer instanceof Outbound ? writer : new Outbound(writer, {
      maxQueueBytes,
      onError: (error) => this.writeFailed(error),
    });
  }

  get queuedBytes(): number {
    return this.outbound.queuedBytes;
  }

  deliver(event: Outgoing): boolean {
    const bytes = event.bytes(this.format);
    return bytes === null || this.enqueue(bytes);
  }

  /** Queues lines (LF-terminated) for the peer; false when they do not fit. */
  protected enqueue(bytes: Uint8Array): boolean {
    return this.outbound.enqueue(bytes);
  }

  close(close: MemberClose): void {
    if (this.closing !== null) return;
    this.closing = close;
    if (close.kind === "slow" && close.last !== null) {
      // It could not take what is queued: its last word replaces it.
      this.outbound.replaceQueued(new Uint8Array());
      const last = close.last.bytes(this.format);
      if (last !== null) this.enqueue(last);
    }
    this.closeConnection(close);
  }

  /** One line from the peer (invalid UTF-8 runs become one U+FFFD each). */
  line(bytes: Uint8Array): void {
    this.hub.input(this.session, decodeLine(bytes));
  }

  /** The peer's line went over the cap. */
  overlong(): void {
    this.hub.lineTooLong(this.session);
  }

  /** Closes the connection as the hub asked (after its queue drains, within the grace). */
  protected abstract closeConnection(close: MemberClose): void;

  /** A write failed: the connection is broken. */
  protected abstract writeFailed(error: unknown): void;
}
