/**
 * The runtime's floor for chat fan-out: a bare Deno TCP broadcaster, the
 * least a Deno server can do per delivery. Every complete line a client
 * sends goes, unchanged and in one shared buffer, to every other client.
 * Each client has one writer (one write in flight, what queued meanwhile
 * joined into the next write) and `TCP_NODELAY`, as Parley has; nothing
 * else: no nicks, rooms, parsing, rate limits or history. A client whose
 * queue passes 1 MiB is dropped. Prints `deno bare chat listening on
 * HOST:PORT`. Run: `deno run --allow-net bench/peers/deno/bare_chat.ts [PORT]`.
 *
 * @module
 */

const QUEUE_LIMIT = 1 << 20;
const members = new Set<Member>();

class Member {
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  constructor(readonly conn: Deno.TcpConn) {}

  send(bytes: Uint8Array): void {
    if (this.#queued + bytes.length > QUEUE_LIMIT) return this.close();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (!this.#writing) this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const chunk = this.#queue.length === 1 ? this.#queue[0] : join(this.#queue, this.#queued);
        this.#queue = [];
        this.#queued = 0;
        for (let done = 0; done < chunk.length;) {
          done += await this.conn.write(chunk.subarray(done));
        }
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  close(): void {
    if (!members.delete(this)) return;
    try {
      this.conn.close();
    } catch { /* closed already */ }
  }
}

function join(chunks: Uint8Array[], length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) at += (out.set(chunk, at), chunk.length);
  return out;
}

async function serve(member: Member): Promise<void> {
  const buffer = new Uint8Array(1024); // small: the floor of memory per connection too
  let partial = new Uint8Array(0);
  try {
    for (let n; (n = await member.conn.read(buffer)) !== null;) {
      const last = buffer.lastIndexOf(10, n - 1);
      if (last < 0) {
        partial = join([partial, buffer.subarray(0, n)], partial.length + n);
        continue;
      }
      // The complete lines of this read, copied once and shared by every recipient.
      const lines = join([partial, buffer.subarray(0, last + 1)], partial.length + last + 1);
      partial = buffer.slice(last + 1, n);
      for (const other of members) if (other !== member) other.send(lines);
    }
  } catch { /* reset */ }
  member.close();
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
console.log(`deno bare chat listening on 127.0.0.1:${listener.addr.port}`);
for await (const conn of listener) {
  conn.setNoDelay(true);
  const member = new Member(conn);
  members.add(member);
  serve(member);
}
