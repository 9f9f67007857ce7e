import { deepEqual, equal, throws } from "node:assert/strict";
import { TokenBucket } from "../lib/support/token_bucket.ts";

function takes(bucket: TokenBucket, now: number, count: number): number {
  let taken = 0;
  for (let i = 0; i < count; i++) if (bucket.take(now)) taken++;
  return taken;
}

Deno.test({
  name: "TokenBucket allows the burst at once, then the rate",
  permissions: "none",
  fn() {
    const bucket = new TokenBucket(10, 5, 0);
    deepEqual(takes(bucket, 0, 100), 5);
    deepEqual(takes(bucket, 500, 100), 5); // 0.5 s at 10/s
    deepEqual(takes(bucket, 10_000, 100), 5); // refills only up to the burst
  },
});

Deno.test({
  name: "TokenBucket with rate 0 never refuses",
  permissions: "none",
  fn() {
    deepEqual(takes(new TokenBucket(0, 1, 0), 0, 1000), 1000);
  },
});

Deno.test({
  name: "TokenBucket refuses a negative rate or an empty burst",
  permissions: "none",
  fn() {
    throws(() => new TokenBucket(-1, 5, 0), RangeError);
    throws(() => new TokenBucket(1, 0, 0), RangeError);
  },
});

Deno.test({
  name: "TokenBucket takes several tokens at once, or none",
  permissions: "none",
  fn() {
    const bucket = new TokenBucket(100, 300, 0);
    equal(bucket.take(0, 250), true);
    equal(bucket.take(0, 100), false); // 50 left: nothing taken
    equal(bucket.take(0, 50), true);
    equal(bucket.take(1000, 100), true); // 100 back after a second
  },
});

Deno.test({
  name: "TokenBucket.charge() goes into debt and says how long until it is paid",
  permissions: "none",
  fn() {
    const bucket = new TokenBucket(1000, 1000, 0);
    equal(bucket.charge(0, 600), 0);
    equal(bucket.charge(0, 900), 500); // 500 in debt at 1000/s
    equal(bucket.charge(500, 0), 0);
    equal(new TokenBucket(0, 1, 0).charge(0, 1e9), 0); // off
  },
});
