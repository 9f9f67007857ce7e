/**
 * Reading a password from the terminal without echo (`server.ts
 * hash-password`, `client.ts --password` without a value).
 *
 * @module
 */

/** Longest password read (bytes); more typed bytes are ignored. */
export const MAX_PASSWORD_BYTES = 1024;

/** Reads one line from a terminal without echo (Ctrl-C or Ctrl-D gives null). */
export async function readHidden(prompt: string): Promise<string | null> {
  const encoder = new TextEncoder();
  Deno.stdin.setRaw(true); // before the prompt: what is typed once it shows is never echoed
  await Deno.stderr.write(encoder.encode(prompt));
  const bytes: number[] = [];
  const buffer = new Uint8Array(64);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) return null;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === 0x03 || byte === 0x04) return null; // Ctrl-C, Ctrl-D
        if (byte === 0x0d || byte === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else if (bytes.length < MAX_PASSWORD_BYTES) bytes.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}
