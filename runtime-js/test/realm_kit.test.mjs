// plts's realm kit (extensions/plts/realm_kit.js): ctx.now must read exactly as Date#toISOString.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const source = readFileSync(new URL("../../extensions/plts/realm_kit.js", import.meta.url), "utf8");
const makeKit = vm.runInNewContext(source);
const kit = makeKit(new Uint8Array(1), new Float64Array(1));
const nowOf = kit[6];

test("nowOf writes what toISOString writes", () => {
  const day = 86400000;
  const cases = [0, -1, 1, day - 1, day, -day, 951782400000 /* 2000-02-29 */, 951868800000,
    4107542400000 /* 2100-03-01 */, 253402300799999 /* 9999-12-31T23:59:59.999 */,
    253402300800000 /* +010000 */, -62135596800000 /* 0001-01-01 */, -30610224000001,
    1764633600123, 1764633600123 /* repeated: cached */];
  let seed = 42;
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    cases.push(Math.floor((seed / 2147483648 - 0.3) * 4e12));
  }
  for (const t of cases) assert.equal(nowOf(t), new Date(t).toISOString(), `t = ${t}`);
});

test("the kit hands invokers the realm's own intrinsics and the C++-shared cells", () => {
  const flag = new Uint8Array(1), clock = new Float64Array(1);
  const k = makeKit(flag, clock);
  assert.equal(k.length, 7);
  assert.equal(k[0]({ a: [1, "x"] }), '{"a":[1,"x"]}');
  assert.equal(k[1](k[3]), k[2]); // getPrototypeOf(Array.prototype) is Object.prototype
  assert.equal(k[4], flag);
  assert.equal(k[5], clock);
});
