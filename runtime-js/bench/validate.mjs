// Per-call cost of validating a small args object: @stopgap/runtime's own validator (v schema and
// JSON-Schema subset) against zod 4's `zod/mini` (with its JIT, and jitless as under a lockdown
// that forbids `new Function`). Run: `npm run bench` (builds first). Numbers go in README.md.
import { v, validate, query } from "../dist/index.js";
import * as z from "zod/mini";

const N = 500_000; // calls per timed batch
const ROUNDS = 15; // batches per case, interleaved across cases; the minimum is reported
// A typical small args object; inputs vary so nothing is constant-folded.
const inputs = Array.from({ length: 1024 }, (_, i) =>
  JSON.parse(JSON.stringify({ id: i, name: `item ${i}`, tags: ["a", "b"], active: i % 2 === 0, note: i % 3 ? null : "n" })),
);

const ours = v.object({
  id: v.int(),
  name: v.string(),
  tags: v.array(v.string()),
  active: v.boolean(),
  note: v.optional(v.nullable(v.string())),
});
const oursJson = {
  type: "object",
  properties: {
    id: { type: "integer" },
    name: { type: "string" },
    tags: { type: "array", items: { type: "string" } },
    active: { type: "boolean" },
    note: { type: ["string", "null"] },
  },
  required: ["id", "name", "tags", "active"],
  additionalProperties: false,
};
const zodShape = () => ({
  id: z.int(),
  name: z.string(),
  tags: z.array(z.string()),
  active: z.boolean(),
  note: z.optional(z.nullable(z.string())),
});
const zodJit = z.strictObject(zodShape());

function check(name, fn) {
  const ok = fn(inputs[0]);
  let rejected = false;
  try {
    rejected = fn({ ...inputs[0], id: 1.5 }) === false;
  } catch {
    rejected = true;
  }
  if (!ok || !rejected) throw new Error(`${name}: does not validate as expected`);
}

function batch(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(inputs[i & 1023]);
  return Number(process.hrtime.bigint() - t0) / N;
}

const zodJitless = () => {
  z.config({ jitless: true });
  const s = z.strictObject(zodShape());
  z.config({ jitless: false });
  return s;
};
const zj = zodJitless();
const cases = {
  "stopgap v.object": (x) => validate(ours, x) === x,
  "stopgap JSON-Schema subset": (x) => validate(oursJson, x) === x,
  "zod/mini z.strictObject (JIT)": (x) => zodJit.safeParse(x).success,
  "zod/mini z.strictObject (jitless)": (x) => zj.safeParse(x).success,
};
for (const [name, fn] of Object.entries(cases)) check(name, fn);
for (const fn of Object.values(cases)) for (let i = 0; i < 300_000; i++) fn(inputs[i & 1023]); // warm up

const best = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(cases)) best[name].push(batch(fn));

console.log(`node ${process.version} (V8 ${process.versions.v8}); validating a 5-key object, ns per call:`);
for (const [name, xs] of Object.entries(best)) {
  xs.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(36)} min ${xs[0].toFixed(0).padStart(5)}   median ${xs[ROUNDS >> 1].toFixed(0).padStart(5)}`);
}

// The whole wrapper vs a bare async default export: validation + read-only ctx + handler + promise.
const ctxs = inputs.map((args) => ({
  args,
  argv: [args],
  db: { mode: "rw", query: async () => [], exec: async () => ({ rowCount: 0 }) },
  fn: { oid: 1, schema: "public", name: "f" },
  now: "",
}));
const wrapped = {
  "bare async (ctx) => ctx.args.id": async (ctx) => ctx.args.id,
  "query(v.object(...), handler)": query(ours, (args) => args.id),
};
async function callBatch(f) {
  const n = 100_000;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += await f(ctxs[i & 1023]);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (sink < 0) throw new Error("unreachable");
  return ns;
}
const wbest = Object.fromEntries(Object.keys(wrapped).map((k) => [k, Infinity]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of Object.entries(wrapped)) wbest[name] = Math.min(wbest[name], await callBatch(f));
}
console.log("one awaited call, ns (min):");
for (const [name, ns] of Object.entries(wbest)) console.log(`  ${name.padEnd(36)} min ${ns.toFixed(0).padStart(5)}`);
