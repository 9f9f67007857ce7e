/**
 * The terminal side of a chat session, whatever carries the lines (TCP or
 * WebSocket): the line editor on the bottom row, keys read from stdin,
 * received lines printed above the input without disturbing the typing,
 * a local copy of what you send, and leaving.
 *
 * Leaving is the same however it is asked for (Ctrl-C, Ctrl-D on an empty
 * line, end of input, or a typed `/quit`): `/quit` goes to the server, which
 * answers `* bye` and closes; if it has not closed after
 * {@linkcode QUIT_WAIT_MS}, the connection is closed here. A failure to
 * read stdin (or in the editor) closes the connection too, and is kept in
 * {@linkcode TerminalChat.inputProblem} for the session to report.
 *
 * @module
 */

import { localEcho, nickFromNotice, styleLine } from "../terminal/chat_display.ts";
import { KeyDecoder } from "../terminal/key_decoder.ts";
import { LineEditor } from "../terminal/line_editor.ts";
import { QUIT_WAIT_MS } from "../support/constants.ts";
import { errorText } from "../net/conn.ts";
import { parseCommand, sanitizeText } from "../chat/protocol.ts";
import { limitsFromNotice, LinePacer, type ServerLimits } from "./server_limits.ts";
import { utf8Length } from "../framing/utf8.ts";

/** What a session reads from and writes to (Deno's stdio fits). */
export interface SessionIo {
  stdin: { read(buffer: Uint8Array): Promise<number | null> };
  stdout: { write(bytes: Uint8Array): Promise<number> };
  /** Where the one-line reason for a drop goes. */
  reportError(message: string): void;
}

/** What a terminal session needs beyond {@linkcode SessionIo}. */
export interface TerminalIo extends SessionIo {
  /** Terminal width in columns, read at each redraw (it may change). */
  columns(): number;
  /** Writes screen output at once and in order. */
  draw(text: string): void;
}

/** The connection under a {@linkcode TerminalChat}. */
export interface ChatLink {
  /** Queues one line for the server; false (nothing queued) when the queue is full. */
  send(text: string): boolean;
  /** Closes the connection; the session ends once it is closed. */
  close(): void;
}

/** Options of {@linkcode TerminalChat}. */
export interface TerminalChatOptions {
  /** Style lines with colours. @default {true} */
  colour?: boolean;
  /** Milliseconds to wait for the server to close after `/quit`. @default {2000} */
  quitWaitMs?: number;
  /** The clock (ms), for pacing. @default {performance.now} */
  now?: () => number;
}

/** Lines typed or pasted that wait for the server's rate, at most; more are not sent. */
export const MAX_PACED_LINES = 1000;

/** Shown when a typed line does not fit in the send queue. */
export const NOT_SENT_NOTE = "! not sent: the server is not reading what you send";

/**
 * Whether `text`, sent as a line, asks the server to end the session: the
 * server's own reading of it (sanitised, then `parseCommand`).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { isQuitCommand } from "./terminal_chat.ts";
 *
 * equal(isQuitCommand("/QUIT see you"), true);
 * equal(isQuitCommand("//quit"), false); // says "/quit" to the room
 * ```
 */
export function isQuitCommand(text: string): boolean {
  return parseCommand(sanitizeText(text)).kind === "quit";
}

/**
 * The editor, the keyboard and the screen of one terminal session.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { TerminalChat } from "./terminal_chat.ts";
 *
 * let screen = "";
 * const io = {
 *   stdin: { read: () => Promise.resolve(null) }, // end of input: leave
 *   stdout: { write: (bytes: Uint8Array) => Promise.resolve(bytes.length) },
 *   reportError: () => {},
 *   columns: () => 80,
 *   draw: (text: string) => void (screen += text),
 * };
 * const sent: string[] = [];
 * const chat = new TerminalChat(io, { send: (line) => sent.push(line) > 0, close: () => {} }, {
 *   colour: false,
 *   quitWaitMs: 0,
 * });
 * chat.show(["* welcome to parley, ann"]);
 * await chat.start();
 * equal(screen.includes("* welcome to parley, ann\r\n"), true);
 * equal(sent.at(-1), "/quit");
 * chat.finish();
 * ```
 */
export class TerminalChat {
  readonly #io: TerminalIo;
  readonly #link: ChatLink;
  readonly #colour: boolean;
  readonly #quitWaitMs: number;
  readonly #editor = new LineEditor();
  readonly #keys = new KeyDecoder();
  #nick = "you";
  #quitting = false;
  #quitTimer: ReturnType<typeof setTimeout> | undefined;
  #inputProblem: string | null = null;
  readonly #now: () => number;
  /** What the server announced it takes (its welcome), once it has. */
  #limits: ServerLimits | null = null;
  #pacer: LinePacer | null = null;
  /** Lines waiting for the pacer, oldest first. */
  readonly #paced: string[] = [];
  #paceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(io: TerminalIo, link: ChatLink, options: TerminalChatOptions = {}) {
    this.#io = io;
    this.#link = link;
    this.#colour = options.colour ?? true;
    this.#quitWaitMs = options.quitWaitMs ?? QUIT_WAIT_MS;
    this.#now = options.now ?? (() => performance.now());
    io.draw(this.#editor.render(io.columns()));
  }

  /** True once leaving was asked for (the connection's end is then expected). */
  get quitting(): boolean {
    return this.#quitting;
  }

  /** Why reading the keyboard failed, if it did (the connection is then closed). */
  get inputProblem(): string | null {
    return this.#inputProblem;
  }

  /**
   * Sends `/nick NAME` when given, then reads keys until leaving. Resolves
   * when it stops reading; never rejects (a failure becomes
   * {@linkcode TerminalChat.inputProblem} and closes the connection).
   */
  start(nick?: string): Promise<void> {
    if (nick !== undefined) this.#link.send(`/nick ${nick}`);
    return this.#type().catch((error) => {
      if (this.#quitting) return;
      this.#inputProblem = `cannot read input: ${errorText(error)}`;
      this.#quitting = true;
      this.#link.close();
    });
  }

  /** Prints received lines above the input (made safe, and styled). */
  show(lines: readonly string[]): void {
    if (lines.length === 0) return;
    for (const line of lines) {
      this.#nick = nickFromNotice(line) ?? this.#nick;
      const limits = limitsFromNotice(line);
      if (limits !== undefined) {
        this.#limits = limits;
        this.#pacer = limits.rate > 0 ? new LinePacer(limits, this.#now()) : null;
      }
    }
    this.#print(lines.map((line) => styleLine(line, this.#colour)));
  }

  /** Sends `/quit` and waits (bounded) for the server to close. */
  quit(): void {
    if (this.#quitting) return;
    this.#link.send("/quit");
    this.#leave();
  }

  /** Stops the quit timer and clears the input row (before the terminal is restored). */
  finish(): void {
    clearTimeout(this.#quitTimer);
    clearTimeout(this.#paceTimer);
    this.#io.draw(this.#editor.clear());
  }

  #leave(): void {
    this.#quitting = true;
    // The server closes after `* bye`; if it does not, stop waiting.
    this.#quitTimer = setTimeout(() => this.#link.close(), this.#quitWaitMs);
  }

  #print(lines: readonly string[]): void {
    this.#io.draw(this.#editor.printAbove(lines, this.#io.columns()));
  }

  async #type(): Promise<void> {
    const buffer = new Uint8Array(1024);
    while (!this.#quitting) {
      const n = await this.#io.stdin.read(buffer);
      if (n === null) return this.quit();
      for (const key of this.#keys.push(buffer.subarray(0, n))) {
        const event = this.#editor.handle(key);
        if (event.kind === "submit") this.#submit(event.text);
        else if (event.kind === "quit") this.quit();
        else this.#io.draw(this.#editor.render(this.#io.columns()));
        if (this.#quitting) return;
      }
    }
  }

  #submit(text: string): void {
    const limits = this.#limits;
    if (limits !== null && utf8Length(text) > limits.maxLineBytes) {
      // Refused here, where it was typed: the server would skip it.
      return this.#print([styleLine(
        `! not sent: line too long (${utf8Length(text)} bytes; this server takes up to ` +
          `${limits.maxLineBytes})`,
        this.#colour,
      )]);
    }
    if (
      !isQuitCommand(text) &&
      (this.#paced.length > 0 || !this.#pacer?.take(this.#now()) && this.#pacer !== null)
    ) {
      // Over the server's rate (a paste): it goes out as the rate allows, in order.
      if (this.#paced.length >= MAX_PACED_LINES) {
        return this.#print([
          styleLine(
            `! not sent: ${MAX_PACED_LINES} lines already wait for the server's rate`,
            this.#colour,
          ),
        ]);
      }
      this.#paced.push(text);
      this.#schedulePaced();
    } else if (!this.#link.send(text)) return this.#print([styleLine(NOT_SENT_NOTE, this.#colour)]);
    const echo = localEcho(text, this.#nick);
    if (echo !== undefined) this.#print([styleLine(echo, this.#colour)]);
    else this.#io.draw(this.#editor.render(this.#io.columns()));
    if (isQuitCommand(text)) this.#leave();
  }

  /** Sends the paced lines the rate allows now, and waits for the rest. */
  #schedulePaced(): void {
    if (this.#paceTimer !== undefined || this.#pacer === null) return;
    this.#paceTimer = setTimeout(() => {
      this.#paceTimer = undefined;
      while (this.#paced.length > 0 && !this.#quitting && this.#pacer!.take(this.#now())) {
        if (!this.#link.send(this.#paced.shift()!)) {
          this.#print([styleLine(NOT_SENT_NOTE, this.#colour)]);
        }
      }
      if (this.#quitting) this.#paced.length = 0;
      if (this.#paced.length > 0) this.#schedulePaced();
    }, this.#pacer.waitMs());
  }
}
