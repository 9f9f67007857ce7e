import { deepEqual, ok } from "node:assert/strict";

/**
 * The folders of lib/, bottom up. A module may import from its own folder
 * and from folders of a lower rank only, so imports point one way. Pure
 * folders use no `Deno.*` and no node built-in.
 */
const LAYERS: Record<string, { rank: number; pure: boolean }> = {
  support: { rank: 0, pure: true },
  framing: { rank: 1, pure: true },
  chat: { rank: 2, pure: true },
  terminal: { rank: 3, pure: true },
  net: { rank: 3, pure: false },
  store: { rank: 3, pure: false },
  transport: { rank: 4, pure: false },
  echo: { rank: 4, pure: false },
  cluster: { rank: 4, pure: false },
  server: { rank: 5, pure: false },
  client: { rank: 5, pure: false },
  cli: { rank: 6, pure: false },
};

const lib = new URL("../lib/", import.meta.url);

async function* modules(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* modules(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

/** The source without comments and string contents of template examples. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

/** Checks one module; returns the rule it breaks, if any. */
function problems(path: string, source: string): string[] {
  const folder = path.split("/")[0];
  const layer = LAYERS[folder];
  if (layer === undefined) return [`${path}: lib/${folder}/ is not a known layer`];
  const found: string[] = [];
  const body = code(source);
  const imports = [...body.matchAll(/(?:import|export)\s[^;]*?from\s*["']([^"']+)["']/g)]
    .map((match) => match[1]);
  for (const specifier of imports) {
    if (specifier.startsWith(".")) {
      const target = new URL(specifier, new URL(path, lib)).pathname.slice(lib.pathname.length);
      const targetFolder = target.split("/")[0];
      const targetLayer = LAYERS[targetFolder];
      if (targetLayer === undefined) found.push(`${path} imports ${specifier}: outside lib/`);
      else if (targetFolder !== folder && targetLayer.rank >= layer.rank) {
        found.push(`${path} imports ${target}: ${targetFolder}/ is not below ${folder}/`);
      }
    } else if (layer.pure && specifier.startsWith("node:")) {
      found.push(`${path} (pure) imports the node built-in ${specifier}`);
    }
  }
  if (layer.pure && /\bDeno\./.test(body)) found.push(`${path} (pure) uses Deno.*`);
  return found;
}

Deno.test("lib/ folders import only downwards, and pure folders use no Deno.* or node built-in", async () => {
  const found: string[] = [];
  let count = 0;
  for await (const url of modules(lib)) {
    count++;
    const path = url.pathname.slice(lib.pathname.length);
    found.push(...problems(path, await Deno.readTextFile(url)));
  }
  ok(count > 30, `only ${count} modules found`);
  deepEqual(found, []);
});

Deno.test({
  name: "the layering check catches an upward import, Deno.* and node: in pure code",
  permissions: "none",
  fn() {
    deepEqual(problems("chat/x.ts", 'import { serveChat } from "../server/serve_chat.ts";'), [
      "chat/x.ts imports server/serve_chat.ts: server/ is not below chat/",
    ]);
    deepEqual(problems("framing/x.ts", "const conn = await Deno.connect({ port: 1 });"), [
      "framing/x.ts (pure) uses Deno.*",
    ]);
    deepEqual(problems("chat/x.ts", 'import net from "node:net";'), [
      "chat/x.ts (pure) imports the node built-in node:net",
    ]);
    deepEqual(problems("net/x.ts", 'import net from "node:net";\nDeno.listen({ port: 0 });'), []);
    deepEqual(problems("chat/x.ts", "// Deno.serve in a comment is fine\n"), []);
  },
});

Deno.test("entry files are thin: each imports one program from lib/cli/ and runs it", async () => {
  for (const entry of ["server.ts", "client.ts", "udp_echo.ts"]) {
    const source = await Deno.readTextFile(new URL(`../${entry}`, import.meta.url));
    const body = code(source).trim().split("\n").filter((line) => line.trim() !== "");
    deepEqual(body.length, 2, `${entry}: ${body.join(" | ")}`);
    ok(/^import \{ \w+ \} from "\.\/lib\/cli\/\w+\.ts";$/.test(body[0]), `${entry}: ${body[0]}`);
    ok(body[1].startsWith("if (import.meta.main) Deno.exit(await "), `${entry}: ${body[1]}`);
  }
});
