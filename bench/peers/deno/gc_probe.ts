/**
 * Bench-only preload (`deno run --preload bench/peers/deno/gc_probe.ts
 * --v8-flags=…,--expose-gc SERVER`): lets the load generator ask a Deno
 * server, from outside and without a line of the server changed, for its
 * live memory. On SIGUSR2 it runs a full garbage collection (V8's `gc()`,
 * mark-compact of the whole heap) and writes `SEQ HEAP_USED EXTERNAL RSS
 * HEAP_TOTAL` (bytes, from `Deno.memoryUsage()` just after) to
 * `$PARLEY_BENCH_GC_DIR/gc-PID.txt`, replacing it whole (write, then
 * rename). Without that variable, or without `--expose-gc`, it does nothing.
 *
 * @module
 */

const dir = Deno.env.get("PARLEY_BENCH_GC_DIR");
const gc = (globalThis as { gc?: () => void }).gc;

if (dir !== undefined && gc !== undefined) {
  const file = `${dir}/gc-${Deno.pid}.txt`;
  let seq = 0;
  Deno.addSignalListener("SIGUSR2", () => {
    gc();
    const { heapUsed, external, rss, heapTotal } = Deno.memoryUsage();
    const line = `${++seq} ${heapUsed} ${external} ${rss} ${heapTotal}\n`;
    Deno.writeTextFileSync(`${file}.tmp`, line);
    Deno.renameSync(`${file}.tmp`, file);
  });
}
