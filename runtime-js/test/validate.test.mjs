// Validation semantics of `v` schemas and the JSON-Schema subset: accepted values, rejected values
// and the exact messages (`stopgap args validation failed at <json path>: <problem>`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { v, validate, toJSONSchema, ValidationError, StopgapError } from "../dist/index.js";

/** Asserts that `value` fails `schema` with exactly `message` (and SQLSTATE 22023). */
function rejects(schema, value, message, extra = {}) {
  let err;
  try {
    validate(schema, value);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${String(value)} to be rejected`);
  assert.ok(err instanceof ValidationError && err instanceof StopgapError && err instanceof Error);
  assert.equal(err.message, message);
  assert.equal(err.sqlstate, "22023");
  for (const [k, val] of Object.entries(extra)) assert.equal(err[k], val, k);
  return err;
}
function accepts(schema, value) {
  assert.equal(validate(schema, value), value);
}
const P = "stopgap args validation failed at ";

test("string", () => {
  accepts(v.string(), "");
  accepts(v.string(), "x");
  rejects(v.string(), 1, `${P}$: expected string`, { detail: "received number 1", path: "$" });
  rejects(v.string(), null, `${P}$: expected string`, { detail: "received null" });
  rejects(v.string(), undefined, `${P}$: expected string`, { detail: "the value is missing" });
});

test("number", () => {
  for (const x of [0, -1.5, 1e300]) accepts(v.number(), x);
  rejects(v.number(), "1", `${P}$: expected number`, { detail: "received string" });
  rejects(v.number(), NaN, `${P}$: expected number`, { detail: "received NaN" });
  rejects(v.number(), Infinity, `${P}$: expected number`);
  rejects(v.number(), 1n, `${P}$: expected number`, { detail: "received bigint" });
});

test("int", () => {
  for (const x of [0, -7, 2 ** 53 - 1]) accepts(v.int(), x);
  rejects(v.int(), 1.5, `${P}$: expected int`, { detail: "received number 1.5" });
  rejects(v.int(), "1", `${P}$: expected int`);
  rejects(v.int(), 2 ** 53, `${P}$: expected int`);
  rejects(v.object({ id: v.int() }), { id: "7" }, `${P}$.id: expected int`, { path: "$.id" });
});

test("boolean and null", () => {
  accepts(v.boolean(), true);
  accepts(v.boolean(), false);
  rejects(v.boolean(), 0, `${P}$: expected boolean`);
  rejects(v.boolean(), "true", `${P}$: expected boolean`);
  accepts(v.null(), null);
  rejects(v.null(), undefined, `${P}$: expected null`);
  rejects(v.null(), 0, `${P}$: expected null`);
});

test("literal", () => {
  accepts(v.literal("on"), "on");
  accepts(v.literal(3), 3);
  accepts(v.literal(false), false);
  accepts(v.literal(null), null);
  rejects(v.literal("on"), "off", `${P}$: expected "on"`);
  rejects(v.literal(3), "3", `${P}$: expected 3`);
  rejects(v.literal(false), 0, `${P}$: expected false`);
});

test("enum", () => {
  const e = v.enum(["a", "b", 3]);
  accepts(e, "a");
  accepts(e, 3);
  rejects(e, "c", `${P}$: expected "a" | "b" | 3`);
  rejects(e, "3", `${P}$: expected "a" | "b" | 3`);
  assert.throws(() => v.enum([]), TypeError);
});

test("union", () => {
  const u = v.union([v.string(), v.int()]);
  accepts(u, "x");
  accepts(u, 4);
  rejects(u, 4.5, `${P}$: expected string | int`);
  rejects(u, null, `${P}$: expected string | int`);
  // The branch that got furthest names the error.
  const shapes = v.union([
    v.object({ kind: v.literal("circle"), r: v.number() }),
    v.object({ kind: v.literal("rect"), w: v.number(), h: v.number() }),
  ]);
  accepts(shapes, { kind: "rect", w: 1, h: 2 });
  rejects(shapes, { kind: "rect", w: 1, h: "2" }, `${P}$.h: expected number`);
  rejects(shapes, { kind: "square" }, `${P}$.kind: expected "circle" | "rect"`);
  rejects(shapes, { kind: "circle", r: 1, w: 2 }, `${P}$.w: unknown key`);
  rejects(shapes, [], `${P}$: expected object`);
  // Without a discriminating key, the branch that got furthest names the error.
  const mixed = v.union([v.int(), v.object({ a: v.object({ b: v.string() }) }), v.object({ a: v.int() })]);
  accepts(mixed, { a: 1 });
  rejects(mixed, { a: { b: 1 } }, `${P}$.a.b: expected string`);
  rejects(mixed, "x", `${P}$: expected int | object`);
  assert.throws(() => v.union([]), TypeError);
  assert.throws(() => v.union([{}]), TypeError);
});

test("array", () => {
  const a = v.array(v.int());
  accepts(a, []);
  accepts(a, [1, 2, 3]);
  rejects(a, [1, 2, "x"], `${P}$[2]: expected int`, { path: "$[2]" });
  rejects(a, { length: 0 }, `${P}$: expected array`);
  rejects(a, "abc", `${P}$: expected array`);
  const nested = v.object({ items: v.array(v.object({ qty: v.int() })) });
  rejects(nested, { items: [{ qty: 1 }, { qty: 1 }, { qty: 0.5 }] }, `${P}$.items[2].qty: expected int`);
  rejects(v.array(v.array(v.string())), [["a"], [1]], `${P}$[1][0]: expected string`);
});

test("object: strict, required keys, nested paths", () => {
  const o = v.object({ id: v.int(), name: v.string(), meta: v.object({ tags: v.array(v.string()) }) });
  const ok = { id: 1, name: "n", meta: { tags: ["t"] } };
  accepts(o, ok);
  rejects(o, { ...ok, extra: 1 }, `${P}$.extra: unknown key`, { hint: "allowed keys: id, name, meta" });
  rejects(o, { ...ok, meta: { tags: [], more: true } }, `${P}$.meta.more: unknown key`);
  rejects(o, { name: "n", meta: { tags: [] } }, `${P}$.id: expected int`, { detail: "the value is missing" });
  rejects(o, { ...ok, meta: { tags: ["a", 2] } }, `${P}$.meta.tags[1]: expected string`);
  rejects(o, null, `${P}$: expected object`);
  rejects(o, [], `${P}$: expected object`, { detail: "received array" });
  rejects(o, "x", `${P}$: expected object`);
  accepts(v.object({}), {});
  rejects(v.object({}), { a: 1 }, `${P}$.a: unknown key`, { hint: "no keys are allowed" });
  // Keys that are not identifiers are quoted in the path.
  rejects(v.object({ "a b": v.int() }), { "a b": "x" }, `${P}$["a b"]: expected int`);
  rejects(v.object({}), { "0": 1 }, `${P}$["0"]: unknown key`);
  // Inherited properties are not keys; prototype tricks stay unknown keys.
  rejects(v.object({}), JSON.parse('{"__proto__": 1}'), `${P}$.__proto__: unknown key`);
  accepts(v.object({ a: v.optional(v.int()) }), Object.create({ inherited: 1 }));
  assert.throws(() => v.object({ a: 1 }), TypeError);
});

test("optional", () => {
  const o = v.object({ id: v.int(), note: v.optional(v.string()) });
  accepts(o, { id: 1 });
  accepts(o, { id: 1, note: "x" });
  accepts(o, { id: 1, note: undefined });
  rejects(o, { id: 1, note: null }, `${P}$.note: expected string`);
  rejects(o, { id: 1, note: 5 }, `${P}$.note: expected string`);
  accepts(v.optional(v.int()), undefined);
  accepts(v.array(v.optional(v.int())), [1, undefined]);
});

test("nullable", () => {
  const o = v.object({ n: v.nullable(v.int()) });
  accepts(o, { n: null });
  accepts(o, { n: 1 });
  rejects(o, { n: "1" }, `${P}$.n: expected int | null`);
  rejects(o, {}, `${P}$.n: expected int | null`);
  const deep = v.nullable(v.object({ a: v.int() }));
  accepts(deep, null);
  rejects(deep, { a: "x" }, `${P}$.a: expected int`);
  rejects(deep, 3, `${P}$: expected object | null`);
  const both = v.object({ x: v.optional(v.nullable(v.string())) });
  accepts(both, {});
  accepts(both, { x: null });
  rejects(both, { x: 1 }, `${P}$.x: expected string | null`);
});

test("unknown", () => {
  const o = v.object({ payload: v.unknown() });
  accepts(o, { payload: { anything: [1] } });
  accepts(o, {});
});

test("schemas are immutable and JSON-serializable", () => {
  const s = v.object({
    id: v.int(),
    name: v.optional(v.string()),
    kind: v.enum(["a", "b"]),
    on: v.literal(true),
    tags: v.array(v.union([v.string(), v.number()])),
    parent: v.nullable(v.int()),
    z: v.null(),
    b: v.boolean(),
    any: v.unknown(),
  });
  assert.ok(Object.isFrozen(s));
  assert.equal(s.kind, "object");
  const expected = {
    type: "object",
    properties: {
      id: { type: "integer" },
      name: { type: "string" },
      kind: { enum: ["a", "b"] },
      on: { enum: [true] },
      tags: { type: "array", items: { anyOf: [{ type: "string" }, { type: "number" }] } },
      parent: { anyOf: [{ type: "integer" }, { type: "null" }] },
      z: { type: "null" },
      b: { type: "boolean" },
      any: {},
    },
    required: ["id", "kind", "on", "tags", "parent", "z", "b", "any"],
    additionalProperties: false,
  };
  assert.deepEqual(s.toJSONSchema(), expected);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), expected);
  assert.deepEqual(toJSONSchema(s), expected);
  // The generated JSON Schema validates the same way.
  const good = { id: 1, kind: "a", on: true, tags: ["x", 2], parent: null, z: null, b: false, any: 0 };
  accepts(s, good);
  accepts(expected, good);
  for (const bad of [{ ...good, id: 1.5 }, { ...good, extra: 1 }, { ...good, tags: [true] }, { ...good, on: false }]) {
    assert.throws(() => validate(s, bad), ValidationError);
    assert.throws(() => validate(expected, bad), ValidationError);
  }
});

test("JSON Schema: types", () => {
  accepts({ type: "string" }, "s");
  rejects({ type: "string" }, 1, `${P}$: expected string`);
  accepts({ type: "integer" }, 3);
  rejects({ type: "integer" }, 3.5, `${P}$: expected integer`);
  accepts({ type: "number" }, 3.5);
  rejects({ type: "number" }, NaN, `${P}$: expected number`);
  accepts({ type: "boolean" }, true);
  accepts({ type: "null" }, null);
  accepts({ type: "array" }, [1, "x"]);
  rejects({ type: "array" }, {}, `${P}$: expected array`);
  accepts({ type: "object" }, { any: 1 });
  rejects({ type: "object" }, [], `${P}$: expected object`);
  accepts({ type: ["string", "null"] }, null);
  rejects({ type: ["string", "null"] }, 1, `${P}$: expected string | null`);
  accepts({}, { whatever: [] });
  accepts({ description: "annotations are ignored", title: "t", $schema: "x" }, 5);
});

test("JSON Schema: objects, required, additionalProperties", () => {
  const s = {
    type: "object",
    properties: { id: { type: "integer" }, name: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
    required: ["id"],
    additionalProperties: false,
  };
  accepts(s, { id: 1 });
  accepts(s, { id: 1, name: "x", tags: [] });
  rejects(s, {}, `${P}$.id: expected integer`, { detail: "the value is missing" });
  rejects(s, { id: "1" }, `${P}$.id: expected integer`);
  rejects(s, { id: 1, name: 2 }, `${P}$.name: expected string`);
  rejects(s, { id: 1, tags: ["a", "b", 3] }, `${P}$.tags[2]: expected string`);
  rejects(s, { id: 1, other: 2 }, `${P}$.other: unknown key`, { hint: "allowed keys: id, name, tags" });
  rejects(s, "x", `${P}$: expected object`);
  // additionalProperties absent or true: extra keys are fine.
  const open = { type: "object", properties: { id: { type: "integer" } }, required: ["id"] };
  accepts(open, { id: 1, other: 2 });
  accepts({ ...open, additionalProperties: true }, { id: 1, other: 2 });
  // additionalProperties as a schema validates the extra values.
  const map = { type: "object", additionalProperties: { type: "integer" } };
  accepts(map, { a: 1, b: 2 });
  rejects(map, { a: 1, b: "2" }, `${P}$.b: expected integer`);
  // required names a key that has no property schema.
  rejects({ type: "object", required: ["x"] }, {}, `${P}$.x: required key is missing`);
  // Without "type", object keywords apply to objects only (JSON Schema semantics).
  accepts({ properties: { a: { type: "string" } } }, 5);
  rejects({ properties: { a: { type: "string" } } }, { a: 5 }, `${P}$.a: expected string`);
});

test("JSON Schema: items, enum, const, anyOf", () => {
  const nested = { type: "array", items: { type: "array", items: { type: "integer" } } };
  accepts(nested, [[1], []]);
  rejects(nested, [[1], [2, "x"]], `${P}$[1][1]: expected integer`);
  accepts({ items: { type: "string" } }, "not an array");

  const e = { enum: ["a", 1, null, { x: [1] }] };
  for (const x of ["a", 1, null, { x: [1] }]) accepts(e, x);
  rejects(e, "b", `${P}$: expected "a" | 1 | null | {"x":[1]}`);
  rejects(e, { x: [2] }, `${P}$: expected "a" | 1 | null | {"x":[1]}`);

  accepts({ const: "k" }, "k");
  rejects({ const: "k" }, "K", `${P}$: expected "k"`);

  const any = { anyOf: [{ type: "string" }, { type: "object", properties: { n: { type: "integer" } }, required: ["n"] }] };
  accepts(any, "s");
  accepts(any, { n: 1 });
  rejects(any, 1, `${P}$: expected string | object`);
  rejects(any, { n: "1" }, `${P}$.n: expected integer`);
});

test("JSON Schema: unsupported keywords and bad schemas fail at definition time", () => {
  assert.throws(() => validate({ type: "string", minLength: 1 }, "x"), /unsupported JSON Schema keyword "minLength" at \$/);
  assert.throws(
    () => validate({ type: "object", properties: { a: { oneOf: [] } } }, {}),
    /unsupported JSON Schema keyword "oneOf" at \$\.properties\.a/,
  );
  assert.throws(() => validate({ type: "date" }, "x"), /unsupported JSON Schema type "date"/);
  assert.throws(() => validate({ anyOf: [] }, "x"), /"anyOf" at \$ must be a non-empty array/);
  assert.throws(() => validate(null, 1), TypeError);
  assert.throws(() => validate("string", 1), TypeError);
});

test("JSON Schema values are used as given", () => {
  const s = { type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: false };
  assert.equal(toJSONSchema(s), s);
});
