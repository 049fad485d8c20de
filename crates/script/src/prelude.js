// Installs the GenieACS-style script API in a fresh context. Evaluated once per run, before
// the script; `host` holds the native functions (src/host.rs), which stay out of reach of
// the script.
(function (host, now, offsetBase, args) {
  "use strict";
  const RealDate = globalThis.Date;
  const hostDeclare = host.declare;
  const hostQuery = host.query;
  const hostClear = host.clear;
  const hostCommit = host.commit;
  const hostLog = host.log;
  const hostExt = host.ext;
  const hostCronPrev = host.cronPrev;
  const JSString = String;

  // The result of declare(): attributes of the first match, `size`, and iteration over all
  // matches. Nothing is read from the device data until the script looks.
  class DeclareResult {
    #id;
    #nodes;
    constructor(id) {
      this.#id = id;
    }
    #all() {
      if (this.#nodes === undefined) this.#nodes = hostQuery(this.#id);
      return this.#nodes;
    }
    get size() {
      return this.#all().length;
    }
    get path() {
      return this.#all()[0]?.path;
    }
    get value() {
      return this.#all()[0]?.value;
    }
    get object() {
      return this.#all()[0]?.object;
    }
    get writable() {
      return this.#all()[0]?.writable;
    }
    get notification() {
      return this.#all()[0]?.notification;
    }
    get accessList() {
      return this.#all()[0]?.accessList;
    }
    [Symbol.iterator]() {
      return this.#all()[Symbol.iterator]();
    }
  }

  function show(v) {
    if (typeof v === "string") return v;
    if (v === undefined || typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") return String(v);
    if (v instanceof Error) return String(v);
    try {
      const json = JSON.stringify(v);
      return json === undefined ? String(v) : json;
    } catch (e) {
      return String(v);
    }
  }

  function define(name, value) {
    Object.defineProperty(globalThis, name, { value, writable: false, enumerable: false, configurable: false });
  }

  define("declare", function declare(path, attrTimestamps, attrValues) {
    return new DeclareResult(hostDeclare(path, attrTimestamps, attrValues, RealDate));
  });
  define("clear", function clear(path, timestamp, attributes) {
    hostClear(path, timestamp, attributes, RealDate);
  });
  define("commit", function commit() {
    hostCommit();
  });
  define("log", function log(...parts) {
    hostLog(parts.map(show).join(" "));
  });
  // ext(file, function, ...args): GenieACS extensions, which the ACS runs out of process.
  // Every argument is passed as text; a result not known yet stops the run (see data.rs).
  define("ext", function ext(...a) {
    return hostExt(a.map((v) => JSString(v)));
  });
  globalThis.args = args;

  // The session's clock: `new Date()` and `Date.now()` are the fixed session time.
  function SandboxDate(...a) {
    if (new.target === undefined) return new RealDate(now).toString();
    return a.length === 0 ? new RealDate(now) : new RealDate(...a);
  }
  Object.defineProperty(SandboxDate, "name", { value: "Date" });
  SandboxDate.prototype = RealDate.prototype;
  Object.defineProperty(RealDate.prototype, "constructor", { value: SandboxDate, writable: true, configurable: true });
  SandboxDate.UTC = RealDate.UTC;
  SandboxDate.parse = RealDate.parse;
  // Date.now(interval[, variance]): start of the current interval, shifted per device by
  // offsetBase % variance (variance defaults to the interval) so a fleet spreads out.
  SandboxDate.now = function now_(interval, variance) {
    if (interval === undefined || interval === null) return now;
    if (variance !== undefined && variance !== null && (typeof variance !== "number" || !(variance >= 0) || !isFinite(variance)))
      throw new RangeError("Date.now(interval, variance): the variance must be a non-negative number");
    if (typeof interval === "string") {
      // The last time the cron expression matched; only an explicit variance shifts it.
      const offset = variance ? offsetBase % variance : 0;
      const prev = hostCronPrev(interval, now + offset);
      return prev === null || prev === undefined ? 0 : prev - offset;
    }
    if (typeof interval !== "number" || !(interval > 0) || !isFinite(interval))
      throw new RangeError("Date.now(interval): the interval must be a positive number of milliseconds");
    if (variance === undefined || variance === null) variance = interval;
    const offset = variance > 0 ? offsetBase % variance : 0;
    const phase = (now + offset) % interval;
    return now - (phase < 0 ? phase + interval : phase);
  };
  Object.defineProperty(SandboxDate.now, "name", { value: "now" });
  globalThis.Date = SandboxDate;

  const hostSeed = host.seed;
  Math.random = host.random;
  // Math.random.seed(v) restarts the sequence from v, keyed as seedrandom keys it: a string
  // as it is, other values flattened (objects to three levels) and turned to text.
  function flatten(v, depth) {
    const parts = [];
    if (depth && typeof v === "object" && v !== null) {
      for (const k in v) {
        try {
          parts.push(flatten(v[k], depth - 1));
        } catch (e) {
          // seedrandom skips what it cannot read
        }
      }
    }
    return parts.length ? parts : typeof v === "string" ? v : v + "\0";
  }
  Math.random.seed = function seed(v) {
    hostSeed(JSString(flatten(v, 3)));
  };
})
