// @stopgap/runtime/client: call() against a fake node-postgres client (the SQL and the bound
// values it sends, how it decodes the result, its errors), fnRef(), and the typed project's
// generated api.ts run as JavaScript (transpiled by the pinned TypeScript).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { call, fnRef, CALL_SQL } from "../dist/client.js";

const require = createRequire(import.meta.url);
const ts = require("typescript");

function fakeClient(rows) {
  const sent = [];
  return {
    sent,
    async query(text, values) {
      sent.push({ text, values });
      if (rows instanceof Error) throw rows;
      return { rows: typeof rows === "function" ? rows(text, values) : rows, rowCount: 1 };
    },
  };
}

test("call binds path, JSON args and env, and parses the JSON text result", async () => {
  const client = fakeClient([{ r: '{"id":1,"name":"Ada","tags":["x"],"n":12345678901234567}' }]);
  const ref = fnRef("api.users.profile.get");
  const result = await call(client, ref, { id: 1, note: "it's \"quoted\"" });
  assert.deepEqual(result, { id: 1, name: "Ada", tags: ["x"], n: 12345678901234567 });
  assert.deepEqual(client.sent, [
    {
      text: "SELECT stopgap.call_fn($1, $2::jsonb, $3)::text AS r",
      values: ["api.users.profile.get", '{"id":1,"note":"it\'s \\"quoted\\""}', null],
    },
  ]);
  assert.equal(CALL_SQL, client.sent[0].text);
});

test("args default to {} and options.env is bound as $3", async () => {
  const client = fakeClient([{ r: "[1,2]" }]);
  assert.deepEqual(await call(client, fnRef("api.todos.list")), [1, 2]);
  await call(client, fnRef("api.todos.list"), undefined, { env: "staging" });
  assert.deepEqual(client.sent.map((s) => s.values), [
    ["api.todos.list", "{}", null],
    ["api.todos.list", "{}", "staging"],
  ]);
});

test("SQL NULL is null; JSON scalars decode", async () => {
  assert.equal(await call(fakeClient([{ r: null }]), fnRef("api.a.b")), null);
  assert.equal(await call(fakeClient([{ r: '"text"' }]), fnRef("api.a.b")), "text");
  assert.equal(await call(fakeClient([{ r: "42" }]), fnRef("api.a.b")), 42);
  assert.equal(await call(fakeClient([{ r: "null" }]), fnRef("api.a.b")), null);
});

test("the client's error (with the server's SQLSTATE) reaches the caller unchanged", async () => {
  const err = Object.assign(new Error('stopgap: no function "api.users.profile.gte"'), { code: "42883" });
  await assert.rejects(call(fakeClient(err), fnRef("api.users.profile.gte"), {}), (e) => e === err);
});

test("bad inputs and unexpected answers are clear errors", async () => {
  await assert.rejects(call(fakeClient([]), "api.a.b", {}), /fn must be a function reference/);
  await assert.rejects(call({}, fnRef("api.a.b"), {}), /client must have query\(text, values\)/);
  await assert.rejects(call(fakeClient([]), fnRef("api.a.b")), /expected one row from stopgap.call_fn/);
  await assert.rejects(call(fakeClient([{ r: { parsed: true } }]), fnRef("api.a.b")), /expected the result as JSON text/);
  await assert.rejects(call(fakeClient([{ r: "1" }]), fnRef("api.a.b"), { n: 1n }), TypeError); // BigInt: not JSON
  assert.throws(() => fnRef(""), /path must be a non-empty string/);
  assert.ok(Object.isFrozen(fnRef("api.a.b")));
});

test("the typed project's generated api.ts runs: each entry's path is its function path", async () => {
  const source = readFileSync(new URL("./typed-project/stopgap/_generated/api.ts", import.meta.url), "utf8");
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  }).outputText;
  assert.doesNotMatch(js, /todos\.js|profile\.js/, "type-only imports must vanish from the JS");
  const clientUrl = new URL("../dist/client.js", import.meta.url).href;
  const mod = await import(
    "data:text/javascript," + encodeURIComponent(js.replaceAll('from "@stopgap/runtime/client"', `from ${JSON.stringify(clientUrl)}`))
  );
  const { api } = mod;
  assert.equal(api.users.profile.get.path, "api.users.profile.get");
  assert.equal(api.users.profile.rename.path, "api.users.profile.rename");
  assert.equal(api.todos.add.path, "api.todos.add");
  assert.equal(api["user-settings"].get.path, "api.user-settings.get");
  assert.equal(api.users.profile.MAX_NAME, undefined);
  const client = fakeClient([{ r: "7" }]);
  assert.equal(await call(client, api.todos.add, { title: "t" }), 7);
  assert.deepEqual(client.sent[0].values, ["api.todos.add", '{"title":"t"}', null]);
});
