// plts's invoker prelude (extensions/plts/invoker_prelude.js): ctx.now must read exactly as
// Date#toISOString writes it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const prelude = readFileSync(new URL("../../extensions/plts/invoker_prelude.js", import.meta.url), "utf8");
// The kit as realm.cpp builds it, from the fresh context's own intrinsics.
const nowOf = vm.runInNewContext(`(function (kit) { 'use strict';\n${prelude}\nreturn nowOf; })(
  [JSON.stringify, Object.getPrototypeOf, Object.prototype, Array.prototype, new Uint8Array(1),
   new Float64Array(1), Date.prototype.toISOString, Reflect.apply, Date, Math.floor])`);

test("nowOf writes what toISOString writes", () => {
  const day = 86400000;
  const cases = [0, -1, 1, 7, 42, 999, day - 1, day, -day, 951782400000 /* 2000-02-29 */,
    951868800000, 4107542400000 /* 2100-03-01 */, 253402300799999 /* 9999-12-31T23:59:59.999 */,
    253402300800000 /* +010000 */, -62135596800000 /* 0001-01-01 */, -30610224000001,
    1764633600123, 1764633600123 /* repeated: cached */, 1764633600005];
  // Runs of nearby times, as consecutive calls see them: within a second, across seconds,
  // across midnight and a year's end (the per-second and per-day parts are kept between calls).
  for (const base of [1764633600000, 1767225600000, -86400000, 0]) {
    for (let t = base - 2500; t <= base + 2500; t += 7) cases.push(t);
  }
  let seed = 42;
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    cases.push(Math.floor((seed / 2147483648 - 0.3) * 4e12));
  }
  for (const t of cases) assert.equal(nowOf(t), new Date(t).toISOString(), `t = ${t}`);
});
