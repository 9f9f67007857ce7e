import { equal } from "node:assert/strict";
import { localEcho, nickColour, nickFromNotice, styleLine } from "../lib/terminal/chat_display.ts";

Deno.test({
  name: "styleLine() strips terminal controls from any server, with or without colour",
  permissions: "none",
  fn() {
    equal(styleLine("<x> \x1b]0;title\x07hi\x1b[2J", false), "<x> hi");
    equal(styleLine("<x> \x1b[2Jhi", true).includes("\x1b[2J"), false);
  },
});

Deno.test({
  name: "styleLine() styles notices, errors and nicks distinctly, and stably",
  permissions: "none",
  fn() {
    equal(styleLine("* alice joined lobby", true), "\x1b[2m* alice joined lobby\x1b[0m");
    equal(styleLine("! no such nick: bob", true), "\x1b[1;31m! no such nick: bob\x1b[0m");
    equal(styleLine("<alice> hi", true), `${nickColour("alice")}<alice>\x1b[0m hi`);
    equal(styleLine("[bob -> you] psst", true), `${nickColour("bob")}[bob -> you]\x1b[0m psst`);
    equal(nickColour("Alice"), nickColour("alice"));
    equal(styleLine("plain echo text", true), "plain echo text");
  },
});

Deno.test({
  name: "nickFromNotice() follows the welcome and nick changes only",
  permissions: "none",
  fn() {
    equal(nickFromNotice("* welcome to parley, guest-3"), "guest-3");
    equal(nickFromNotice("* you are now known as ann"), "ann");
    equal(nickFromNotice("* bob is now known as ann"), undefined);
    equal(nickFromNotice("<bob> * you are now known as eve"), undefined);
  },
});

Deno.test({
  name: "localEcho() shows what the others will see, and nothing for other commands",
  permissions: "none",
  fn() {
    equal(localEcho("hello", "ann"), "<ann> hello");
    equal(localEcho("//root", "ann"), "<ann> /root");
    equal(localEcho("/me waves", "ann"), "<ann> *waves*");
    equal(localEcho("/msg bob hi", "ann"), "[you -> bob] hi");
    equal(localEcho("/who", "ann"), undefined);
  },
});
