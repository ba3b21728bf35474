// An application calling the project's functions through the generated api.ts. Type-checked by
// `npm test` (tsc -p test/typed-project): the exact inferred types are asserted, and each
// `@ts-expect-error` line must be an error (tsc fails if it is not).
import { call, type Queryable } from "@stopgap/runtime/client";
import type { ArgsOf, KindOf, ResultOf } from "@stopgap/runtime/client";
import { api } from "./stopgap/_generated/api.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | void {}

declare const client: Queryable;

export async function main(): Promise<void> {
  // Arguments and result come from the module's own schema and handler.
  const profile = await call(client, api.users.profile.get, { id: 1 });
  // The handler returns { created: Date, nickname: string | undefined } | null: after the jsonb
  // round trip a Date is a string and an undefined property may be missing.
  expectType<Equal<typeof profile, { id: number; name: string; created: string; nickname?: string } | null>>();
  if (profile) profile.name.toUpperCase();

  const renamed = await call(client, api.users.profile.rename, { id: 1, name: "Ada" });
  expectType<Equal<typeof renamed, { renamed: boolean }>>();

  // Every key optional: the arguments may be left out.
  const todos = await call(client, api.todos.list);
  expectType<Equal<typeof todos, { id: number; title: string; done: boolean }[]>>();
  await call(client, api.todos.list, { done: true }, { env: "staging" });

  const id = await call(client, api.todos.add, { title: "write docs" });
  expectType<Equal<typeof id, number>>();

  const settings = await call(client, api["user-settings"].get, {});
  expectType<Equal<typeof settings, { theme: "dark" | "light" }>>();

  expectType<Equal<ArgsOf<typeof api.users.profile.rename>, { id: number; name: string }>>();
  expectType<Equal<KindOf<typeof api.users.profile.rename>, "mutation">>();
  expectType<Equal<KindOf<typeof api.todos.list>, "query">>();
  expectType<Equal<ResultOf<typeof api.todos.add>, number>>();
  expectType<Equal<(typeof api.users.profile.get)["path"], string>>();

  // @ts-expect-error -- id is an integer, not a string
  await call(client, api.users.profile.get, { id: "1" });
  // @ts-expect-error -- a required argument is missing
  await call(client, api.users.profile.rename, { id: 1 });
  // @ts-expect-error -- the arguments may not be left out when a key is required
  await call(client, api.todos.add);
  // @ts-expect-error -- an unknown key
  await call(client, api.todos.add, { title: "x", priority: 1 });
  // @ts-expect-error -- MAX_NAME is not a function: it is not in api
  api.users.profile.MAX_NAME;
  // @ts-expect-error -- the result is typed: no such property
  (await call(client, api.users.profile.rename, { id: 1, name: "x" })).rowCount;
  // @ts-expect-error -- a plain string is not a function reference
  await call(client, "api.todos.add", { title: "x" });
}

// A node-postgres Pool/Client is a Queryable: its query(text, values) matches structurally.
interface PgLikeClient {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}
export async function withPgLike(pg: PgLikeClient): Promise<number> {
  return call(pg, api.todos.add, { title: "via pg" });
}
