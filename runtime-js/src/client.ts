/**
 * @stopgap/runtime/client — calling deployed stopgap functions from an application (Node), typed.
 *
 * `stopgap types` writes `stopgap/_generated/api.ts`, a map of function paths to references that
 * carry each function's argument and result types; `call(client, api.users.profile.get, { id })`
 * runs it through `stopgap.call_fn` and resolves to the typed result.
 *
 * This module is separate from the in-database runtime (`@stopgap/runtime`, dist/index.js): plts
 * never loads it. It imports nothing at run time and needs no driver: `client` is anything with
 * node-postgres's `query(text, values)` (a `pg.Client`, a `pg.Pool`, a `PoolClient`).
 */
import type { Kind, StopgapFunction } from "./index.js";

/**
 * A deployed function, named by its path (`"api.users.profile.get"`), with its argument type `A`,
 * its handler's result type `R` and its kind as phantom types (never set at run time).
 */
export interface FunctionReference<A = any, R = unknown, K extends Kind = Kind> {
  readonly path: string;
  /** Phantom: the argument type. */
  readonly "~args"?: A;
  /** Phantom: the handler's (awaited) result type, before the JSON round trip. */
  readonly "~result"?: R;
  /** Phantom: `"query"` or `"mutation"`. */
  readonly "~kind"?: K;
}

/** The argument type of a `query(...)`/`mutation(...)` export or of a reference to one. */
export type ArgsOf<F> = F extends FunctionReference<infer A, any, any>
  ? A
  : F extends StopgapFunction<any, infer A, any>
    ? A
    : never;

/** The (awaited) result type of a handler, as it returns it (see `Jsonified` for what a caller gets). */
export type ResultOf<F> = F extends FunctionReference<any, infer R, any>
  ? R
  : F extends StopgapFunction<any, any, infer R>
    ? R
    : never;

/** `"query"` or `"mutation"`. */
export type KindOf<F> = F extends FunctionReference<any, any, infer K>
  ? K
  : F extends StopgapFunction<infer K, any, any>
    ? K
    : never;

type JsonLeaf = string | number | boolean | null;
type Dropped = undefined | symbol | ((...args: any[]) => any);

/**
 * What a value becomes after `JSON.stringify` + `JSON.parse`, as the result crosses jsonb:
 * `toJSON()` is applied (a `Date` becomes a string), `undefined`, functions and symbols are left
 * out of objects and become `null` in arrays and at the top level.
 */
export type Jsonified<T> = unknown extends T
  ? T
  : [T] extends [JsonLeaf]
    ? T
    : T extends { toJSON(...args: any[]): infer J }
      ? Jsonified<J>
      : T extends JsonLeaf
        ? T
        : T extends Dropped
          ? null
          : T extends readonly (infer E)[]
            ? Jsonified<E>[]
            : T extends object
              ? JsonObject<T>
              : never;

type Simplify<O> = { [K in keyof O]: O[K] };
type StringKeys<T> = keyof T & string;
type RequiredKeys<T> = {
  [K in StringKeys<T>]: undefined extends T[K] ? never : T[K] extends Dropped ? never : K;
}[StringKeys<T>];
type OptionalKeys<T> = {
  [K in StringKeys<T>]: undefined extends T[K] ? (Exclude<T[K], undefined> extends Dropped ? never : K) : never;
}[StringKeys<T>];
type JsonObject<T> = Simplify<
  { [K in RequiredKeys<T>]: Jsonified<T[K]> } & { [K in OptionalKeys<T>]?: Jsonified<Exclude<T[K], undefined>> }
>;

/** What `call` resolves to for reference `F`. */
export type CallResult<F> = Jsonified<ResultOf<F>>;

/**
 * A reference to the function at `path` whose export has type `F` (`typeof module.get`): what
 * `stopgap types` writes into api.ts. `F` must be a `query(...)`/`mutation(...)` export.
 */
export function fnRef<F extends StopgapFunction<Kind, any, any>>(
  path: string,
): FunctionReference<ArgsOf<F>, ResultOf<F>, KindOf<F>> {
  if (typeof path !== "string" || path === "") throw new TypeError("stopgap: fnRef(path): path must be a non-empty string");
  return Object.freeze({ path });
}

/** What `call` needs of a database client: node-postgres's `query(text, values)`. */
export interface Queryable {
  query(text: string, values: unknown[]): Promise<{ rows: ReadonlyArray<Record<string, unknown>> }>;
}

export interface CallOptions {
  /** The stopgap environment (default: the server's `stopgap.default_env`). */
  env?: string;
}

/** The SQL `call` runs, with the path, the JSON text of the arguments and the environment bound. */
export const CALL_SQL = "SELECT stopgap.call_fn($1, $2::jsonb, $3)::text AS r";

type CallRest<F> = {} extends ArgsOf<F>
  ? [args?: ArgsOf<F>, options?: CallOptions]
  : [args: ArgsOf<F>, options?: CallOptions];

/**
 * Calls a deployed function through `stopgap.call_fn` and resolves to its result, decoded from
 * JSON (SQL NULL → `null`). Arguments may be left out when every key is optional. Errors are the
 * client's own (node-postgres rejects with the server's `code` = SQLSTATE, e.g. 42883 for an
 * unknown path, 22023 for arguments that fail validation, 42501 without EXECUTE on the function).
 *
 * ```ts
 * import { call } from "@stopgap/runtime/client";
 * import { api } from "./stopgap/_generated/api.js";
 * const profile = await call(pool, api.users.profile.get, { id: 1 });
 * ```
 */
export async function call<F extends FunctionReference>(
  client: Queryable,
  fn: F,
  ...[args, options]: CallRest<F>
): Promise<CallResult<F>> {
  if (typeof fn !== "object" || fn === null || typeof fn.path !== "string" || fn.path === "") {
    throw new TypeError("stopgap: call(client, fn, args): fn must be a function reference from api.ts (fnRef)");
  }
  if (typeof client !== "object" || client === null || typeof client.query !== "function") {
    throw new TypeError("stopgap: call(client, fn, args): client must have query(text, values) (a pg Client or Pool)");
  }
  const argsText = JSON.stringify(args === undefined ? {} : args);
  const result = await client.query(CALL_SQL, [fn.path, argsText, options?.env ?? null]);
  const rows = result?.rows;
  if (!Array.isArray(rows) || rows.length !== 1 || typeof rows[0] !== "object" || rows[0] === null) {
    throw new Error(`stopgap: call(${fn.path}): expected one row from stopgap.call_fn`);
  }
  const r = rows[0].r;
  if (r === null || r === undefined) return null as CallResult<F>;
  if (typeof r !== "string") {
    throw new Error(`stopgap: call(${fn.path}): expected the result as JSON text, got ${typeof r}`);
  }
  return JSON.parse(r) as CallResult<F>;
}
