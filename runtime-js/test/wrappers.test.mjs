// query()/mutation(): metadata, argument validation before the handler, and the read-only ctx.db
// of a query. plts passes a real ctx; here a fake one records what the handler did.
import { test } from "node:test";
import assert from "node:assert/strict";
import { query, mutation, v, ValidationError, StopgapError } from "../dist/index.js";

function fakeCtx(args, { mode = "rw" } = {}) {
  const calls = [];
  const db = {
    mode,
    async query(input, params) {
      calls.push(["query", input, params, this === db]);
      return [{ id: 1 }];
    },
    async exec(input, params) {
      calls.push(["exec", input, params, this === db]);
      return { rowCount: 3 };
    },
  };
  const ctx = {
    args,
    argv: [args],
    db,
    fn: { oid: 16384, schema: "public", name: "f" },
    now: "2026-01-01T00:00:00.000Z",
  };
  return { ctx, calls };
}

const schema = v.object({ id: v.int(), note: v.optional(v.string()) });

test("metadata: kind and a JSON-serializable args schema", () => {
  const q = query(schema, () => null);
  const m = mutation(schema, () => null);
  assert.equal(typeof q, "function");
  assert.equal(q.__stopgap_kind, "query");
  assert.equal(m.__stopgap_kind, "mutation");
  const json = {
    type: "object",
    properties: { id: { type: "integer" }, note: { type: "string" } },
    required: ["id"],
    additionalProperties: false,
  };
  assert.deepEqual(q.__stopgap_args_schema, json);
  assert.deepEqual(JSON.parse(JSON.stringify(m.__stopgap_args_schema)), json);
  // Read-only metadata.
  assert.throws(() => {
    "use strict";
    q.__stopgap_kind = "mutation";
  }, TypeError);
  assert.equal(q.__stopgap_kind, "query");
  assert.ok(Object.isFrozen(q.__stopgap_args_schema.properties.id));
  // A JSON Schema is recorded as given.
  const js = { type: "object", properties: { id: { type: "integer" } }, required: ["id"] };
  assert.equal(mutation(js, () => 1).__stopgap_args_schema, js);
});

test("the handler receives the validated args and the context", async () => {
  const { ctx } = fakeCtx({ id: 7 });
  let seen;
  const f = mutation(schema, (args, c) => {
    seen = { args, c };
    return { got: args.id + 1 };
  });
  const p = f(ctx);
  assert.ok(p instanceof Promise);
  assert.deepEqual(await p, { got: 8 });
  assert.equal(seen.args, ctx.args);
  assert.equal(seen.c, ctx); // a mutation gets plts's ctx as is
});

test("async handlers are awaited; their errors propagate", async () => {
  const { ctx } = fakeCtx({ id: 1 });
  const ok = query(schema, async (args) => {
    await null;
    return [args.id];
  });
  assert.deepEqual(await ok(ctx), [1]);
  const boom = Object.assign(new Error("boom"), { sqlstate: "P0001" });
  const bad = mutation(schema, async () => {
    throw boom;
  });
  await assert.rejects(bad(ctx), (e) => e === boom);
});

test("bad args are refused before the handler runs, with SQLSTATE 22023 and the JSON path", async () => {
  let ran = false;
  for (const wrap of [query, mutation]) {
    const f = wrap(schema, () => {
      ran = true;
    });
    await assert.rejects(f(fakeCtx({ id: "7" }).ctx), (e) => {
      assert.ok(e instanceof ValidationError && e instanceof StopgapError);
      assert.equal(e.message, "stopgap args validation failed at $.id: expected int");
      assert.equal(e.sqlstate, "22023");
      assert.equal(e.path, "$.id");
      assert.equal(e.detail, "received string");
      // plts prefixes the message with the error's name unless it is "Error".
      assert.equal(e.name, "Error");
      return true;
    });
    await assert.rejects(f(fakeCtx({ id: 1, extra: true }).ctx), {
      message: "stopgap args validation failed at $.extra: unknown key",
      sqlstate: "22023",
    });
    await assert.rejects(f(fakeCtx(null).ctx), { message: "stopgap args validation failed at $: expected object" });
  }
  assert.equal(ran, false);
});

test("query: ctx.db is read-only, db.exec is refused with SQLSTATE 25006", async () => {
  const { ctx, calls } = fakeCtx({ id: 5 });
  let seenCtx;
  const f = query(schema, async (args, c) => {
    seenCtx = c;
    assert.equal(c.db.mode, "ro");
    const rows = await c.db.query("select $1::int as id", [args.id]);
    const rows2 = await c.db.query({ sql: "select 1" });
    await assert.rejects(c.db.exec("delete from t"), (e) => {
      assert.ok(e instanceof Error && e instanceof StopgapError);
      assert.equal(e.message, "db.exec is not allowed in a query handler");
      assert.equal(e.sqlstate, "25006");
      return true;
    });
    return rows.concat(rows2);
  });
  assert.deepEqual(await f(ctx), [{ id: 1 }, { id: 1 }]);
  // Queries reach plts's db with its own `this`; exec never does.
  assert.deepEqual(calls, [
    ["query", "select $1::int as id", [5], true],
    ["query", { sql: "select 1" }, undefined, true],
  ]);
  // The rest of the context is passed through; plts's own ctx is not modified.
  assert.equal(seenCtx.args, ctx.args);
  assert.equal(seenCtx.argv, ctx.argv);
  assert.equal(seenCtx.fn, ctx.fn);
  assert.equal(seenCtx.now, ctx.now);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(seenCtx))).sort(), ["args", "argv", "db", "fn", "now"]);
  assert.notEqual(seenCtx.db, ctx.db);
  assert.equal(ctx.db.mode, "rw");
});

test("query: a handler that throws on exec (not awaited) still gets a rejected promise, not a throw", () => {
  const { ctx } = fakeCtx({ id: 1 });
  let p;
  const f = query(schema, (_args, c) => {
    p = c.db.exec("insert into t values (1)");
    p.catch(() => {});
    return null;
  });
  return f(ctx).then(async (r) => {
    assert.equal(r, null);
    await assert.rejects(p, { sqlstate: "25006" });
  });
});

test("query: ctx.now is read from plts's ctx only when the handler reads it", async () => {
  let reads = 0;
  const { ctx } = fakeCtx({ id: 1 });
  Object.defineProperty(ctx, "now", { enumerable: true, get: () => (reads++, "2026-02-03T00:00:00Z") });
  const lazy = query(schema, () => 1);
  await lazy(ctx);
  assert.equal(reads, 0);
  const reader = query(schema, (_a, c) => c.now);
  assert.equal(await reader(ctx), "2026-02-03T00:00:00Z");
  assert.equal(reads, 1);
});

test("query: ctx.trigger, ctx.event and ctx.window are plts's, absent when plts sets none", async () => {
  const { ctx } = fakeCtx({});
  const see = query(v.object({}), (_a, c) => [c.trigger, c.event, c.window]);
  assert.deepEqual(await see(ctx), [undefined, undefined, undefined]);
  const trigger = { op: "INSERT", new: { id: 1 }, old: null };
  const event = { event: "ddl_command_end", tag: "CREATE TABLE" };
  const window = { position: 0, memory: {} };
  Object.assign(ctx, { trigger, event, window });
  const [t, e, w] = await see(ctx);
  assert.equal(t, trigger);
  assert.equal(e, event);
  assert.equal(w, window);
});

test("mutation: writes go through to plts's db", async () => {
  const { ctx, calls } = fakeCtx({ id: 2 });
  const f = mutation(schema, async (args, c) => {
    assert.equal(c.db.mode, "rw");
    const r = await c.db.exec("update t set x = $1", [args.id]);
    return r.rowCount;
  });
  assert.equal(await f(ctx), 3);
  assert.deepEqual(calls, [["exec", "update t set x = $1", [2], true]]);
});

test("JSON-Schema args work with the wrappers", async () => {
  const f = mutation(
    {
      type: "object",
      properties: { ids: { type: "array", items: { type: "integer" } } },
      required: ["ids"],
      additionalProperties: false,
    },
    ({ ids }) => ids.length,
  );
  assert.equal(await f(fakeCtx({ ids: [1, 2] }).ctx), 2);
  await assert.rejects(f(fakeCtx({ ids: [1, 2, 3.5] }).ctx), {
    message: "stopgap args validation failed at $.ids[2]: expected integer",
    sqlstate: "22023",
  });
});

test("definition errors are reported when the module loads", () => {
  assert.throws(() => query(schema, "nope"), TypeError);
  assert.throws(() => query(null, () => 1), TypeError);
  assert.throws(() => mutation({ type: "object", pattern: "x" }, () => 1), /unsupported JSON Schema keyword "pattern"/);
});

test("the built module is one self-contained ES2022 file", async () => {
  const { readFile } = await import("node:fs/promises");
  const src = await readFile(new URL("../dist/index.js", import.meta.url), "utf8");
  assert.doesNotMatch(src, /^\s*import\s/m, "no import statements");
  assert.doesNotMatch(src, /\bimport\s*\(/, "no dynamic import");
  assert.doesNotMatch(src, /\brequire\s*\(/, "no require");
  // Newer than ES2022 (V8 10.2 lacks them).
  assert.doesNotMatch(src, /\.(toSorted|toReversed|toSpliced|findLast|findLastIndex)\(|Object\.groupBy/);
  assert.ok(src.length < 24_000, `dist/index.js is ${src.length} bytes`);
  const dts = await readFile(new URL("../dist/index.d.ts", import.meta.url), "utf8");
  assert.doesNotMatch(dts, /^\s*import\s/m, "declarations import nothing");
});
