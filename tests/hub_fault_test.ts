/**
 * The hub's fault boundary, without sockets: an exception while the hub
 * handles one member's line or event ends only that member.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { LocalDirectory } from "../lib/chat/directory.ts";
import type { Outgoing } from "../lib/chat/events.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { FakeMember, testHub } from "./hub_helpers.ts";

const pure = { permissions: "none" } as const;

const HISTORY = { lines: 20, roomBytes: 64 * 1024, totalBytes: 1024 * 1024 };

/** A member whose `deliver` throws once `armed`. */
class BrokenMember extends FakeMember {
  armed = false;
  override deliver(event: Outgoing): boolean {
    if (this.armed) throw new Error("deliver exploded");
    return super.deliver(event);
  }
}

/**
 * The in-memory directory, but `find` (for `/msg`) throws, `rooms` (for
 * `/rooms`) rejects, and `guest` throws once when told to.
 */
class ThrowingDirectory extends LocalDirectory {
  guestFails = false;
  override find(): never {
    throw new Error("find exploded");
  }
  override rooms(): never {
    return Promise.reject(new Error("rooms exploded")) as never;
  }
  override guest(ref: string): string {
    if (this.guestFails) {
      this.guestFails = false;
      throw new Error("guest exploded");
    }
    return super.guest(ref);
  }
}

/** The error log events, each checked to carry a stack. */
function errors(log: LogEvent[]): LogEvent[] {
  const found = log.filter((event) => event.event === "error");
  for (const event of found) match(String(event.stack), /\n\s+at /);
  return found;
}

/** Lets promise callbacks (a directory answering later) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test({
  ...pure,
  name: "ChatHub ends only the member whose deliver throws; the broadcast reaches everyone else",
  fn() {
    const log: LogEvent[] = [];
    const { connect, room, say, hub } = testHub({ logger: (event) => log.push(event) });
    const [alice] = room(1);
    const broken = new BrokenMember();
    connect(broken);
    const [carol, dave] = room(2);
    alice.take();
    broken.take();
    broken.armed = true;
    say(alice, "hello");
    for (const member of [carol, dave]) {
      deepEqual(member.take(), ["<guest-1> hello", "* guest-2 left (internal error)"]);
    }
    equal(broken.closeCalls, 1);
    deepEqual(broken.closed, {
      kind: "quit",
      reason: "internal error",
      last: null, // its deliver is what failed
      graceMs: broken.closed!.graceMs,
    });
    equal(hub.memberCount, 3);
    const [error] = errors(log);
    equal(error.reason, "internal error: deliver exploded");
    equal(error.nick, "guest-2");
    deepEqual(
      log.filter((event) => event.event === "disconnect").map((event) => event.reason),
      ["internal error"],
    );
    // The hub goes on serving.
    say(carol, "still here");
    deepEqual(alice.take(), ["* guest-2 left (internal error)", "<guest-3> still here"]);
    deepEqual(dave.take(), ["<guest-3> still here"]);
    hub.disconnect(broken.session, "connection closed"); // its transport, later: no-op
    equal(log.filter((event) => event.event === "disconnect").length, 1);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub ends a member whose command meets a throwing directory, and serves the rest",
  async fn() {
    const log: LogEvent[] = [];
    const directory = new ThrowingDirectory(HISTORY);
    const { room, say, hub } = testHub({ directory, logger: (event) => log.push(event) });
    const [alice, bob, carol] = room(3);
    say(alice, "/msg guest-2 psst"); // `find` throws at once
    deepEqual(alice.take(), ["! internal error; closing the connection"]);
    equal(alice.closed!.reason, "internal error");
    equal(alice.closed!.last, null); // delivered before the close
    for (const member of [bob, carol]) {
      deepEqual(member.take(), ["* guest-1 left (internal error)"]); // nothing of the error
    }
    say(bob, "/rooms"); // `rooms` rejects later
    await settle();
    equal(bob.closed!.reason, "internal error");
    deepEqual(bob.take(), ["! internal error; closing the connection"]);
    deepEqual(carol.take(), ["* guest-2 left (internal error)"]);
    deepEqual(errors(log).map((event) => event.reason), [
      "internal error: find exploded",
      "internal error: rooms exploded",
    ]);
    say(carol, "/who");
    deepEqual(carol.take(), ["* 1 in lobby: guest-3"]);
    equal(hub.memberCount, 1);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub closes a member it cannot welcome (the directory threw) and welcomes the next",
  fn() {
    const log: LogEvent[] = [];
    const directory = new ThrowingDirectory(HISTORY);
    const { connect, hub } = testHub({ directory, logger: (event) => log.push(event) });
    directory.guestFails = true;
    const first = connect();
    equal(first.closed!.reason, "internal error");
    equal(first.session.ended, true);
    hub.input(first.session, "hello"); // its transport, not told yet: ignored
    hub.disconnect(first.session, "connection closed");
    equal(hub.memberCount, 0);
    const second = connect();
    ok(
      second.take().some((line) =>
        line.startsWith("* 1 online; you are in lobby; type /help for commands")
      ),
    );
    equal(second.closed, null);
    deepEqual(errors(log).map((event) => event.reason), ["internal error: guest exploded"]);
  },
});
