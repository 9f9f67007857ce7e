import { deepEqual } from "node:assert/strict";
import {
  MAX_BUFFERED_EVENTS,
  RoomSequencer,
  type SequencerAction,
} from "../lib/cluster/sequencer.ts";

const pure = { permissions: "none" } as const;
const delivered = (actions: SequencerAction[]) =>
  actions.filter((action) => action.kind === "deliver").map((action) => action.seq);

Deno.test({
  ...pure,
  name: "RoomSequencer delivers in order, once, whatever the duplicates",
  fn() {
    const room = new RoomSequencer("e1", 0);
    const seen: number[] = [];
    for (const seq of [1, 2, 2, 1, 3, 3, 4]) {
      seen.push(...delivered(room.receive("e1", seq, `p${seq}`)));
    }
    deepEqual(seen, [1, 2, 3, 4]);
    deepEqual(room.last, 4);
  },
});

Deno.test({
  ...pure,
  name: "RoomSequencer fills a jump from the stream, holding what comes meanwhile",
  fn() {
    const room = new RoomSequencer("e1", 10);
    deepEqual(room.receive("e1", 13, "p13"), [{ kind: "fill", from: 11, to: 12 }]);
    deepEqual(room.receive("e1", 14, "p14"), []); // held: the fill is under way
    deepEqual(room.receive("e1", 11, "p11"), []); // pub/sub caught up: held too
    const actions = room.filled([{ seq: 11, payload: "p11" }, { seq: 12, payload: "p12" }]);
    deepEqual(actions.map((a) => a.kind === "deliver" ? a.payload : a.kind), [
      "p11",
      "p12",
      "p13",
      "p14",
    ]);
    deepEqual(room.last, 14);
  },
});

Deno.test({
  ...pure,
  name: "RoomSequencer reports one gap when the stream no longer has what was missed",
  fn() {
    const room = new RoomSequencer("e1", 10);
    room.receive("e1", 20, "p20");
    const actions = room.filled([{ seq: 18, payload: "p18" }, { seq: 19, payload: "p19" }]);
    deepEqual(actions.map((a) => a.kind === "deliver" ? a.seq : a.kind), ["gap", 18, 19, 20]);
    deepEqual(room.filled([]), []); // no fill under way: nothing
  },
});

Deno.test({
  ...pure,
  name: "RoomSequencer asks for each hole in turn",
  fn() {
    const room = new RoomSequencer("e1", 0);
    deepEqual(room.receive("e1", 3, "p3"), [{ kind: "fill", from: 1, to: 2 }]);
    room.receive("e1", 6, "p6");
    const actions = room.filled([{ seq: 1, payload: "p1" }, { seq: 2, payload: "p2" }]);
    deepEqual(actions.map((a) => a.kind === "deliver" ? a.seq : a), [1, 2, 3, {
      kind: "fill",
      from: 4,
      to: 5,
    }]);
    deepEqual(delivered(room.filled([{ seq: 4, payload: "p4" }, { seq: 5, payload: "p5" }])), [
      4,
      5,
      6,
    ]);
  },
});

Deno.test({
  ...pure,
  name: "RoomSequencer resyncs after a lost subscription: fill, or one gap for a new epoch",
  fn() {
    const room = new RoomSequencer("e1", 5);
    deepEqual(room.resync("e1", 5), []); // nothing was missed
    deepEqual(room.resync("e1", 9), [{ kind: "fill", from: 6, to: 9 }]);
    deepEqual(delivered(room.filled([6, 7, 8, 9].map((seq) => ({ seq, payload: `p${seq}` })))), [
      6,
      7,
      8,
      9,
    ]);
    // Redis restarted empty: the room has no epoch any more.
    deepEqual(room.resync(null, 0), [{ kind: "reset" }, { kind: "gap" }]);
    // Its first event after the restart opens a new epoch: no second gap.
    deepEqual(room.receive("e2", 1, "q1"), [{ kind: "deliver", seq: 1, payload: "q1" }]);
    deepEqual(room.resync(null, 0), [{ kind: "reset" }, { kind: "gap" }]);
    deepEqual(room.resync(null, 0), []);
  },
});

Deno.test({
  ...pure,
  name: "RoomSequencer treats a new epoch seen over pub/sub as one gap",
  fn() {
    const room = new RoomSequencer("e1", 7);
    deepEqual(room.receive("e2", 3, "q3"), [
      { kind: "reset" },
      { kind: "gap" },
      { kind: "fill", from: 1, to: 2 },
    ]);
    deepEqual(delivered(room.filled([1, 2].map((seq) => ({ seq, payload: `q${seq}` })))), [
      1,
      2,
      3,
    ]);
    const fresh = new RoomSequencer(null, 0); // a room that had no events yet
    deepEqual(fresh.receive("e9", 1, "x"), [{ kind: "deliver", seq: 1, payload: "x" }]);
  },
});

Deno.test({
  ...pure,
  name: "RoomSequencer gives up holding past its bound, with a gap",
  fn() {
    const room = new RoomSequencer("e1", 0);
    room.receive("e1", 2, "p2"); // fill 1..1 under way
    let last: SequencerAction[] = [];
    for (let seq = 3; seq <= MAX_BUFFERED_EVENTS + 2; seq++) last = room.receive("e1", seq, "p");
    deepEqual(last[0], { kind: "gap" });
    deepEqual(room.last, MAX_BUFFERED_EVENTS + 2);
  },
});
