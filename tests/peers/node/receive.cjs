// A node-osc receiver as OSC bridges use it: prints one JSON line per 'message' and per 'bundle'
// event, for SECONDS. usage: node receive.cjs new|old PORT SECONDS
"use strict";
const [which, port, seconds] = process.argv.slice(2);

function run(Server) {
  const server = new Server(Number(port), "127.0.0.1");
  // Synchronous writes: process.exit() would cut off what an asynchronous pipe write still holds.
  const out = (kind, value) => require("fs").writeSync(1, JSON.stringify({ kind, value }) + "\n");
  server.on("message", (msg) => out("message", msg));
  server.on("bundle", (bundle) => out("bundle", { timetag: bundle.timetag, elements: bundle.elements.length }));
  setTimeout(() => process.exit(0), Number(seconds) * 1000);
  out("ready", port);
}

if (which === "old") {
  run(require("node-osc-old").Server);
} else {
  import("node-osc").then((mod) => run(mod.Server));
}
