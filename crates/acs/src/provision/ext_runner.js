// The cwmp ACS's runner for GenieACS extensions (docs/provisioning.md, "Extensions").
// Started as `node -e <this> -- <extensions dir> <file>`, it loads one extension module, as
// GenieACS does, and calls its functions on request: `fn(args, callback(err, result))`.
// Requests and answers are JSON lines: {"id", "fn", "args"} on stdin, {"id", "value"} or
// {"id", "error": {"name", "message"}} on stdout. What the module itself prints goes to
// stderr, which the ACS logs.
"use strict";
const path = require("path");
const readline = require("readline");

const [dir, file] = process.argv.slice(1);
const answer = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);

function send(message) {
  let line;
  try {
    line = JSON.stringify(message);
  } catch (e) {
    line = JSON.stringify({ id: message.id, error: { name: "TypeError", message: "the result is not JSON: " + e.message } });
  }
  answer(line + "\n");
}

function errorOf(err) {
  if (err instanceof Error) return { name: err.name || "", message: err.message };
  return { name: "", message: String(err) };
}

let extension = null;
let loadError = null;
try {
  process.chdir(dir);
  extension = require(path.join(dir, file));
} catch (e) {
  loadError = errorOf(e);
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch (e) {
    return;
  }
  const id = request.id;
  if (loadError) return send({ id, error: loadError });
  const fn = extension[request.fn];
  if (typeof fn !== "function")
    return send({ id, error: { name: "", message: `No such function '${request.fn}' in extension '${file}'` } });
  let answered = false;
  const callback = (err, value) => {
    if (answered) return;
    answered = true;
    if (err) send({ id, error: errorOf(err) });
    else send({ id, value: value === undefined ? null : value });
  };
  try {
    fn(request.args, callback);
  } catch (e) {
    callback(e);
  }
}).on("close", () => process.exit(0));
