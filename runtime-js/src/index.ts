/**
 * @stopgap/runtime — what plts/stopgap functions import, both inside PostgreSQL (plts serves this
 * module as the bare specifier `@stopgap/runtime`) and in an editor (these declarations).
 *
 * - `query(args, handler)` / `mutation(args, handler)` wrap a handler as a module's default export.
 * - `v` builds argument schemas with TypeScript inference; a plain JSON-Schema subset works too.
 *
 * This file must stay a single, import-free ES2022 module: it is compiled to one `dist/index.js`
 * that V8 10.2 (inside every database backend that uses plts) loads from memory.
 */

// ---------------------------------------------------------------------------------------------
// The plts runtime contract
// ---------------------------------------------------------------------------------------------

/** A result row: column name → value, converted the node-postgres way. */
export type Row = Record<string, any>;

/** Positional query parameters (`$1`, `$2`, …). */
export type SqlParams = readonly unknown[];

/** Anything `db.query` / `db.exec` accept: SQL text, `{ sql, params }`, or a query builder. */
export type SqlInput =
  | string
  | { readonly sql: string; readonly params?: SqlParams }
  | { toSQL(): { sql: string; params?: SqlParams } };

/** `ctx.db`: SQL through SPI, in the caller's transaction. */
export interface Db<M extends DbMode = DbMode> {
  /** `"ro"` inside a `query(...)` handler (enforced by PostgreSQL), `"rw"` otherwise. */
  readonly mode: M;
  /** Runs a statement and returns its rows. */
  query<R extends Row = Row>(input: SqlInput, params?: SqlParams): Promise<R[]>;
  /** Runs a statement for its effect and returns the number of rows it processed. */
  exec(input: SqlInput, params?: SqlParams): Promise<{ rowCount: number }>;
  /**
   * Commits the transaction and starts a new one, as PL/pgSQL's `COMMIT`. Only in a procedure
   * called by `CALL` in a non-atomic context (not inside a transaction block, a function or a
   * procedure with `SET` clauses); anywhere else it rejects with SQLSTATE 2D000
   * (invalid transaction termination).
   */
  commit(): Promise<void>;
  /** Rolls the transaction back and starts a new one, as PL/pgSQL's `ROLLBACK`: where `commit()` may. */
  rollback(): Promise<void>;
  /**
   * Prepares a statement once for several executions. `paramTypes` are type names
   * (`["int", "text"]`); without them PostgreSQL infers the types from the statement. The plan
   * lives until `free()` or the end of the call — with `{ keep: true }`, until `free()`: such a
   * statement (kept in a global) serves later calls. The same guards apply as to `query`.
   */
  prepare(sql: string, paramTypes?: readonly string[] | null, options?: PrepareOptions): Promise<Statement>;
  /**
   * Opens a cursor: rows are fetched `batch` at a time (default 100), so a scan of any size runs
   * in bounded memory. `for await (const row of ctx.db.cursor(...))`; leaving the loop closes it.
   * The statement runs when `cursor()` is called; its errors surface at the first `next()`.
   */
  cursor<R extends Row = Row>(input: SqlInput, params?: SqlParams, options?: CursorOptions): Cursor<R>;
  /**
   * Runs `body` in a subtransaction: every statement it runs through the `db` it receives is
   * committed together, or rolled back together when `body` throws (the error is re-thrown, and
   * catchable). Nestable through that `db`. While it runs, the outer `db` refuses statements
   * (SQLSTATE 25001).
   */
  transaction<T>(body: (db: Db<M>) => Promise<T> | T): Promise<T>;
  /**
   * A JavaScript function that calls the SQL function `name` (`"schema.name"`, `"name"` on the
   * search_path, or a signature `"schema.name(int, text)"` when overloaded) with converted
   * arguments: a set-returning function's result is an array; a composite one an object. The
   * caller's EXECUTE right is checked by PostgreSQL.
   */
  fn<R = any>(name: string): (...args: unknown[]) => Promise<R>;
  /** `NOTIFY channel, payload`, sent when the transaction commits (not in read-only mode). */
  notify(channel: string, payload?: string): Promise<void>;
  /** Quotes an identifier when it needs quoting (PostgreSQL's `quote_ident`). */
  ident(name: string): string;
  /**
   * A SQL literal (PostgreSQL's `quote_nullable`): `NULL` for null/undefined; strings quoted;
   * numbers, bigints and booleans as their text; Dates as ISO 8601; other objects as JSON.
   */
  literal(value: unknown): string;
}

/** Options of `ctx.db.prepare`. */
export interface PrepareOptions {
  /** Keep the statement past the call (at most 1000 per backend) until `free()`. */
  keep?: boolean;
}

/** Options of `ctx.db.cursor`. */
export interface CursorOptions {
  /** Rows fetched per round trip to the executor: 1 or more (at most plts.max_query_rows). */
  batch?: number;
}

/** An open cursor: an async iterator of rows. */
export interface Cursor<R extends Row = Row> extends AsyncIterableIterator<R> {
  /** Closes the cursor (also done by leaving a `for await` loop and by the end of the call). */
  close(): Promise<IteratorResult<R, undefined>>;
}

/** A statement prepared by `ctx.db.prepare`. */
export interface Statement {
  /** The number of parameters the statement takes. */
  readonly paramCount: number;
  query<R extends Row = Row>(params?: SqlParams): Promise<R[]>;
  exec(params?: SqlParams): Promise<{ rowCount: number }>;
  cursor<R extends Row = Row>(params?: SqlParams, options?: CursorOptions): Cursor<R>;
  /** Frees the plan now rather than at the end of the call. */
  free(): Promise<void>;
}

export type DbMode = "ro" | "rw";

/** `ctx.db` inside a `query(...)` handler: reads only. */
export interface ReadonlyDb {
  readonly mode: "ro";
  query<R extends Row = Row>(input: SqlInput, params?: SqlParams): Promise<R[]>;
  /**
   * Not allowed in a query handler: always rejects with SQLSTATE 25006
   * (`db.exec is not allowed in a query handler`). Use `mutation(...)` to write.
   */
  exec(input: never, params?: never): Promise<never>;
  prepare(sql: string, paramTypes?: readonly string[] | null, options?: PrepareOptions): Promise<Statement>;
  cursor<R extends Row = Row>(input: SqlInput, params?: SqlParams, options?: CursorOptions): Cursor<R>;
  transaction<T>(body: (db: ReadonlyDb) => Promise<T> | T): Promise<T>;
  fn<R = any>(name: string): (...args: unknown[]) => Promise<R>;
  ident(name: string): string;
  literal(value: unknown): string;
}

/** What `ctx.log` messages may carry besides their text, as RAISE's `USING` clause. */
export interface LogOptions {
  detail?: unknown;
  hint?: unknown;
  /** A SQLSTATE: five digits or upper-case letters. */
  code?: string;
}

/**
 * `ctx.log`: messages at PostgreSQL's levels, shown and written to the server log as
 * `client_min_messages` and `log_min_messages` say. Values that are not strings are formatted
 * readably (objects, Maps, cycles); the CONTEXT line names the function.
 */
export interface Log {
  debug(message: unknown, options?: LogOptions): void;
  log(message: unknown, options?: LogOptions): void;
  info(message: unknown, options?: LogOptions): void;
  notice(message: unknown, options?: LogOptions): void;
  warning(message: unknown, options?: LogOptions): void;
  /** Throws an Error carrying the SQLSTATE (default P0001), detail and hint: not a log line. */
  error(message: unknown, options?: LogOptions): never;
}

/** The object plts passes to a function's default export. */
export interface PltsContext<A = any, D = Db> {
  /** `fn(args jsonb)`: the decoded value; otherwise an object keyed by parameter name. */
  args: A;
  /** Positional arguments. */
  argv: any[];
  db: D;
  fn: { oid: number; schema: string; name: string };
  /** Transaction timestamp (ISO 8601). */
  now: string;
  log: Log;
  /** In a `RETURNS trigger` function: the trigger that fired and its rows. Absent otherwise. */
  trigger?: TriggerContext;
  /** In a `RETURNS event_trigger` function: the event and the command tag. Absent otherwise. */
  event?: EventTriggerContext;
  /** In a window function (`CREATE FUNCTION ... WINDOW`): the partition and frame. Absent otherwise. */
  window?: WindowContext;
}

export type TriggerOp = "INSERT" | "UPDATE" | "DELETE" | "TRUNCATE";
export type TriggerWhen = "BEFORE" | "AFTER" | "INSTEAD OF";
export type TriggerLevel = "ROW" | "STATEMENT";

/**
 * `ctx.trigger`: the trigger that fired. `R` is the table's row (column name → value, the same
 * conversions as query rows). A BEFORE row trigger returns the row to store (`new`, possibly
 * modified), `null` to skip the operation for this row, or `undefined` to keep it unchanged;
 * what other triggers return is ignored. Transition tables (`REFERENCING NEW TABLE AS t`) are
 * readable through `ctx.db` by their names.
 */
export interface TriggerContext<R extends Row = Row> {
  /** The new row: INSERT and UPDATE row triggers; `null` otherwise. */
  new: R | null;
  /** The old row: UPDATE and DELETE row triggers; `null` otherwise. */
  old: R | null;
  op: TriggerOp;
  when: TriggerWhen;
  level: TriggerLevel;
  /** The trigger's name. */
  name: string;
  /** The table (or view) the trigger is on. */
  table: string;
  /** The schema of `table`. */
  schema: string;
  /** The oid of `table`. */
  relid: number;
  /** The arguments of `EXECUTE FUNCTION f('a', 'b')`, as text. */
  args: string[];
}

/** `ctx.event`: what fired an event trigger. */
export interface EventTriggerContext {
  /** `ddl_command_start`, `ddl_command_end`, `sql_drop` or `table_rewrite`. */
  event: string;
  /** The command tag, e.g. `CREATE TABLE`. */
  tag: string;
}

/**
 * Where `WindowContext.value` and `frameValue` count `offset` from: the current row (the
 * default), the first row (`"head"`) or the last row (`"tail"`) of the partition or frame.
 */
export type WindowSeek = "current" | "head" | "tail";

/** `ctx.window`: the current row's partition and frame in a window function. */
export interface WindowContext {
  /** The current row's position in its partition, from 0. */
  readonly position: number;
  /** The number of rows in the partition. */
  rowCount(): number;
  /**
   * Argument `arg` (its 0-based index or its parameter name) of the partition's row at `offset`
   * (default 0) from `seek` (default `"current"`); `undefined` when that row is outside the partition.
   */
  value<T = unknown>(arg: number | string, offset?: number, seek?: WindowSeek): T | undefined;
  /** As `value`, within the current row's window frame; `undefined` outside the frame. */
  frameValue<T = unknown>(arg: number | string, offset?: number, seek?: WindowSeek): T | undefined;
  /** Whether the rows at positions `pos1` and `pos2` are peers (equal in the window's ORDER BY). */
  peers(pos1: number, pos2: number): boolean;
  /** Tells PostgreSQL that rows before position `pos` will not be read again (it may free them). */
  setMark(pos: number): void;
  /** One object per partition, kept across the partition's rows: state between calls. */
  memory: Record<string, unknown>;
}

/** `ctx` of a trigger function: `ctx.trigger` is set. */
export interface TriggerFunctionContext<R extends Row = Row> extends PltsContext {
  trigger: TriggerContext<R>;
}
/** `ctx` of an event trigger function: `ctx.event` is set. */
export interface EventTriggerFunctionContext extends PltsContext {
  event: EventTriggerContext;
}
/** `ctx` of a window function: `ctx.window` is set. */
export interface WindowFunctionContext<A = any> extends PltsContext<A> {
  window: WindowContext;
}

/**
 * What a set-returning function (`RETURNS SETOF t`, `RETURNS TABLE(...)`) returns, or its promise
 * resolves to: an array, any iterable (a generator), or an async iterable (an async generator).
 * Rows are objects (column name → value) for composite and TABLE results, plain values otherwise.
 */
export type SetResult<T = unknown> = readonly T[] | Iterable<T> | AsyncIterable<T>;

/** A set-returning function's default export. */
export type SetReturningFunction<T = unknown, C extends PltsContext = PltsContext> = (
  ctx: C,
) => SetResult<T> | Promise<SetResult<T>>;

/**
 * A trigger function's default export: a BEFORE row trigger returns the row to store, `null` to
 * skip the row or `undefined` to keep it; other triggers' results are ignored.
 */
export type TriggerFunction<R extends Row = Row> = (
  ctx: TriggerFunctionContext<R>,
) => R | null | undefined | void | Promise<R | null | undefined | void>;

/** What a `query(...)` handler receives as `ctx`. */
export type QueryContext<A = any> = PltsContext<A, ReadonlyDb>;
/** What a `mutation(...)` handler receives as `ctx`. */
export type MutationContext<A = any> = PltsContext<A, Db<"rw">>;

export type Kind = "query" | "mutation";

/** A wrapped handler: the callable that plts runs, carrying the metadata plts reads. */
export interface StopgapFunction<K extends Kind = Kind, A = any, R = unknown> {
  (ctx: PltsContext): Promise<R>;
  /** `"query"` or `"mutation"`. */
  readonly __stopgap_kind: K;
  /** The argument schema as plain JSON Schema (JSON-serializable). */
  readonly __stopgap_args_schema: JsonSchema;
  /** Phantom: the handler's argument type. Never set at run time. */
  readonly "~args"?: A;
}

/** An error that plts reports with its SQLSTATE, detail and hint. */
export class StopgapError extends Error {
  sqlstate: string;
  detail?: string;
  hint?: string;
  constructor(message: string, sqlstate: string, detail?: string, hint?: string) {
    super(message);
    this.sqlstate = sqlstate;
    if (detail !== undefined) this.detail = detail;
    if (hint !== undefined) this.hint = hint;
  }
}

/** Thrown when arguments do not match the schema: SQLSTATE 22023 (invalid_parameter_value). */
export class ValidationError extends StopgapError {
  /** JSON path of the offending value: `$`, `$.a.b`, `$.items[2]`. */
  path: string;
  constructor(path: string, problem: string, detail?: string, hint?: string) {
    super(`stopgap args validation failed at ${path}: ${problem}`, "22023", detail, hint);
    this.path = path;
  }
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

type JsonPrimitive = string | number | boolean | null;
type JsonValue = JsonPrimitive | readonly JsonValue[] | { readonly [k: string]: JsonValue };
type JsonTypeName = "string" | "number" | "integer" | "boolean" | "null" | "object" | "array";

/** The JSON-Schema subset accepted as an argument schema (and produced from `v` schemas). */
export interface JsonSchema {
  type?: JsonTypeName | readonly JsonTypeName[];
  properties?: { readonly [k: string]: JsonSchema };
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly JsonValue[];
  const?: JsonValue;
  anyOf?: readonly JsonSchema[];
  // Annotations, accepted and ignored.
  title?: string;
  description?: string;
  default?: JsonValue;
  examples?: readonly JsonValue[];
  format?: string;
  $schema?: string;
  $id?: string;
  $comment?: string;
}

type Seg = string | number;
interface Issue {
  path: Seg[];
  /** What was expected (for "expected ..." messages), or a whole problem text. */
  expected?: string;
  problem?: string;
  detail?: string;
  hint?: string;
}
/** Returns `undefined` when `value` is valid, otherwise where and why it is not. */
type Check = (value: unknown) => Issue | undefined;

/** A `v` schema. `T` is the TypeScript type of a valid value. */
export interface Schema<T = unknown> {
  readonly kind: string;
  /** Plain JSON Schema for this schema. */
  toJSONSchema(): JsonSchema;
  /** `JSON.stringify(schema)` yields its JSON Schema. */
  toJSON(): JsonSchema;
  /** Phantom: the inferred type. Never set at run time. */
  readonly "~type"?: T;
  /** @internal */
  readonly "~check": Check;
  /** @internal Shown in "expected ..." messages. */
  readonly "~expected": string;
}

export interface OptionalSchema<S extends Schema = Schema> extends Schema<Infer<S> | undefined> {
  readonly kind: "optional";
  readonly inner: S;
}
export interface ObjectSchema<Shape extends { readonly [k: string]: Schema } = {}>
  extends Schema<InferShape<Shape>> {
  readonly kind: "object";
  readonly shape: Shape;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<Shape> = {
  [K in keyof Shape]: Shape[K] extends { readonly kind: "optional" } ? K : never;
}[keyof Shape];
type InferShape<Shape> = Simplify<
  { -readonly [K in Exclude<keyof Shape, OptionalKeys<Shape>>]: Infer<Shape[K]> } & {
    -readonly [K in OptionalKeys<Shape>]?: Infer<Shape[K]>;
  }
>;

// --- type inference for the JSON-Schema subset (best effort; `unknown` where it cannot tell) ---

type JsonTypeOf<N> = N extends "string"
  ? string
  : N extends "number" | "integer"
    ? number
    : N extends "boolean"
      ? boolean
      : N extends "null"
        ? null
        : N extends "array"
          ? unknown[]
          : N extends "object"
            ? { [k: string]: unknown }
            : unknown;
type Mutable<T> = T extends readonly (infer E)[] ? E[] : T;
type InferJsonObject<S> = S extends { properties: infer P }
  ? Simplify<
      { -readonly [K in keyof P & RequiredOf<S>]: InferJson<P[K]> } & {
        -readonly [K in Exclude<keyof P, RequiredOf<S>>]?: InferJson<P[K]>;
      }
    >
  : { [k: string]: unknown };
type RequiredOf<S> = S extends { required: readonly (infer R)[] } ? R : never;
/** The TypeScript type described by a JSON-Schema subset value (use `as const` or a const literal). */
export type InferJson<S> = S extends { const: infer C }
  ? Mutable<C>
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer A)[] }
      ? A extends unknown
        ? InferJson<A>
        : never
      : S extends { type: infer N }
        ? N extends readonly (infer M)[]
          ? M extends unknown
            ? InferJson<Omit<S, "type"> & { type: M }>
            : never
          : N extends "object"
            ? InferJsonObject<S>
            : N extends "array"
              ? S extends { items: infer I }
                ? InferJson<I>[]
                : unknown[]
              : JsonTypeOf<N>
        : unknown;

/** The type of a value that passes `schema` (a `v` schema or a JSON-Schema subset value). */
export type Infer<S> = S extends Schema<infer T> ? T : InferJson<S>;

/** What `query`/`mutation` accept as an argument schema. */
export type ArgsSchema = Schema<any> | JsonSchema;

/** Flags unknown keywords in a JSON-Schema literal (a generic parameter skips excess-property checks). */
export type StrictArgsSchema<S> = S extends Schema<any> ? S : StrictJson<S>;
type StrictJson<S> = {
  [K in keyof S]: K extends keyof JsonSchema
    ? K extends "properties"
      ? { [P in keyof S[K]]: StrictJson<S[K][P]> }
      : K extends "items"
        ? StrictJson<S[K]>
        : K extends "additionalProperties"
          ? S[K] extends boolean ? S[K] : StrictJson<S[K]>
          : K extends "anyOf"
            ? StrictJsonList<S[K]>
            : S[K]
    : never;
};
type StrictJsonList<T> = { [I in keyof T]: StrictJson<T[I]> };

const objectProto = Object.prototype;
const hasOwn = objectProto.hasOwnProperty;
const getProto = Object.getPrototypeOf;
const isArray = Array.isArray;

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (isArray(value)) return "array";
  const t = typeof value;
  if (t === "number") {
    const n = value as number;
    return Number.isFinite(n) ? `number ${n}` : `${n}`;
  }
  if (t === "boolean") return `boolean ${value}`;
  return t;
}

function mismatch(expected: string, value: unknown): Issue {
  return {
    path: [],
    expected,
    detail: value === undefined ? "the value is missing" : `received ${typeName(value)}`,
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !isArray(value);
}

const schemaProto = {
  toJSON(this: Schema): JsonSchema {
    return this.toJSONSchema();
  },
};

function make<S extends Schema<any>>(
  kind: string,
  expected: string,
  check: Check,
  toJSONSchema: () => JsonSchema,
  extra?: object,
): S {
  const s = Object.create(schemaProto);
  s.kind = kind;
  s["~check"] = check;
  s["~expected"] = expected;
  s.toJSONSchema = toJSONSchema;
  if (extra) Object.assign(s, extra);
  return Object.freeze(s) as S;
}

function isSchema(x: unknown): x is Schema {
  return typeof x === "object" && x !== null && typeof (x as Schema)["~check"] === "function";
}

/** Picks the issue of the branch that got furthest, or reports the whole union. */
function unionIssue(issues: Issue[], expected: string, value: unknown): Issue {
  let best: Issue | undefined;
  for (const issue of issues) if (!best || issue.path.length > best.path.length) best = issue;
  return best && best.path.length > 0 ? best : mismatch(expected, value);
}

function jsonLiteral(x: unknown): string {
  return typeof x === "string" ? JSON.stringify(x) : String(x);
}

function simple<T>(kind: string, expected: string, check: Check, json: JsonSchema): Schema<T> {
  return make<Schema<T>>(kind, expected, check, () => ({ ...json }));
}

// Each check is a single closure: it runs once per property per call.
const stringSchema = simple<string>(
  "string",
  "string",
  (x) => (typeof x === "string" ? undefined : mismatch("string", x)),
  { type: "string" },
);
const numberSchema = simple<number>(
  "number",
  "number",
  (x) => (typeof x === "number" && Number.isFinite(x) ? undefined : mismatch("number", x)),
  { type: "number" },
);
const intSchema = simple<number>(
  "int",
  "int",
  (x) => (Number.isSafeInteger(x) ? undefined : mismatch("int", x)),
  { type: "integer" },
);
const booleanSchema = simple<boolean>(
  "boolean",
  "boolean",
  (x) => (typeof x === "boolean" ? undefined : mismatch("boolean", x)),
  { type: "boolean" },
);
const nullSchema = simple<null>("null", "null", (x) => (x === null ? undefined : mismatch("null", x)), {
  type: "null",
});
const unknownSchema = make<Schema<unknown>>("unknown", "any value", () => undefined, () => ({}));

type Literal = string | number | boolean | null;

/**
 * Checks an object's known keys, then its other own keys: `extra` false rejects them, true allows
 * them, a check validates their values.
 */
function objectCheck(keys: string[], checks: Check[], extra: boolean | Check): Check {
  const n = keys.length;
  const known: Record<string, true> = Object.create(null);
  for (const k of keys) known[k] = true;
  // Fast path for ordinary objects: reading `value[key]` cannot reach an inherited value (no key is
  // an Object.prototype member), and counting the enumerable keys tells whether any is unknown.
  const fast = keys.every((k) => !(k in objectProto));
  const hint = n ? `allowed keys: ${keys.join(", ")}` : "no keys are allowed";
  const others = (value: Record<string, unknown>): Issue | undefined => {
    if (extra === true) return undefined;
    for (const key in value) {
      if (known[key] === true || !hasOwn.call(value, key)) continue;
      if (extra === false) return { path: [key], problem: "unknown key", hint };
      const issue = extra(value[key]);
      if (issue !== undefined) {
        issue.path.unshift(key);
        return issue;
      }
    }
    return undefined;
  };
  return (value) => {
    if (!isPlainObject(value)) return mismatch("object", value);
    if (fast && getProto(value) === objectProto) {
      let present = 0;
      for (let i = 0; i < n; i++) {
        const key = keys[i];
        const val = value[key];
        if (val !== undefined) present++;
        const issue = checks[i](val);
        if (issue !== undefined) {
          issue.path.unshift(key);
          return issue;
        }
      }
      if (extra === false) {
        let count = 0;
        for (const _ in value) count++;
        if (count === present) return undefined;
      }
      return others(value);
    }
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      const issue = checks[i](hasOwn.call(value, key) ? value[key] : undefined);
      if (issue !== undefined) {
        issue.path.unshift(key);
        return issue;
      }
    }
    return others(value);
  };
}

function arrayCheck(item: Check): Check {
  return (value) => {
    if (!isArray(value)) return mismatch("array", value);
    for (let i = 0; i < value.length; i++) {
      const issue = item(value[i]);
      if (issue !== undefined) {
        issue.path.unshift(i);
        return issue;
      }
    }
    return undefined;
  };
}

function object<const Shape extends { readonly [k: string]: Schema<any> }>(shape: Shape): ObjectSchema<Shape> {
  const keys = Object.keys(shape);
  const checks = keys.map((k) => {
    const s = shape[k];
    if (!isSchema(s)) throw new TypeError(`v.object: property "${k}" is not a schema`);
    return s["~check"];
  });
  const check = objectCheck(keys, checks, false);
  return make<ObjectSchema<Shape>>(
    "object",
    "object",
    check,
    () => {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const k of keys) {
        properties[k] = shape[k].toJSONSchema();
        if (shape[k].kind !== "optional") required.push(k);
      }
      return { type: "object", properties, required, additionalProperties: false };
    },
    { shape },
  );
}

function array<S extends Schema<any>>(item: S): Schema<Infer<S>[]> & { readonly item: S } {
  if (!isSchema(item)) throw new TypeError("v.array: the item is not a schema");
  return make("array", "array", arrayCheck(item["~check"]), () => ({ type: "array", items: item.toJSONSchema() }), { item });
}

function literal<const T extends Literal>(value: T): Schema<T> & { readonly value: T } {
  const expected = jsonLiteral(value);
  return make(
    "literal",
    expected,
    (x) => (x === value ? undefined : mismatch(expected, x)),
    () => ({ enum: [value] }),
    { value },
  );
}

function enumOf<const T extends readonly [Literal, ...Literal[]]>(
  values: T,
): Schema<T[number]> & { readonly values: T } {
  if (!isArray(values) || values.length === 0) throw new TypeError("v.enum: expected a non-empty array");
  const set = new Set<unknown>(values);
  const expected = values.map(jsonLiteral).join(" | ");
  return make(
    "enum",
    expected,
    (x) => (set.has(x) ? undefined : mismatch(expected, x)),
    () => ({ enum: [...values] }),
    { values },
  );
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** A key whose value is a distinct literal in every option, if all options are objects. */
function discriminator(options: readonly Schema<any>[]) {
  if (options.length < 2 || !options.every((o) => o.kind === "object")) return undefined;
  const shapes = options.map((o) => (o as ObjectSchema<any>).shape as Record<string, Schema<any>>);
  for (const key of Object.keys(shapes[0])) {
    const index = new Map<unknown, number>();
    for (let i = 0; i < shapes.length; i++) {
      const s = shapes[i][key] as (Schema<any> & { value?: unknown }) | undefined;
      if (!s || s.kind !== "literal" || index.has(s.value)) break;
      index.set(s.value, i);
    }
    if (index.size === shapes.length) {
      return { key, index, expected: [...index.keys()].map(jsonLiteral).join(" | ") };
    }
  }
  return undefined;
}

function union<const T extends readonly [Schema<any>, ...Schema<any>[]]>(
  options: T,
): Schema<Infer<T[number]>> & { readonly options: T } {
  if (!isArray(options) || options.length === 0 || !options.every(isSchema)) {
    throw new TypeError("v.union: expected a non-empty array of schemas");
  }
  const checks = options.map((o) => o["~check"]);
  const expected = unique(options.map((o) => o["~expected"])).join(" | ");
  const tag = discriminator(options);
  return make(
    "union",
    expected,
    (value) => {
      if (tag !== undefined) {
        // A union of objects told apart by a literal-valued key: check only the matching branch.
        if (!isPlainObject(value)) return mismatch("object", value);
        const i = tag.index.get(value[tag.key]);
        if (i === undefined) return { ...mismatch(tag.expected, value[tag.key]), path: [tag.key] };
        return checks[i](value);
      }
      let issues: Issue[] | undefined;
      for (const c of checks) {
        const issue = c(value);
        if (issue === undefined) return undefined;
        (issues ??= []).push(issue);
      }
      return unionIssue(issues!, expected, value);
    },
    () => ({ anyOf: options.map((o) => o.toJSONSchema()) }),
    { options },
  );
}

function optional<S extends Schema<any>>(inner: S): OptionalSchema<S> {
  if (!isSchema(inner)) throw new TypeError("v.optional: expected a schema");
  const c = inner["~check"];
  return make<OptionalSchema<S>>(
    "optional",
    inner["~expected"],
    (value) => (value === undefined ? undefined : c(value)),
    () => inner.toJSONSchema(),
    { inner },
  );
}

function nullable<S extends Schema<any>>(inner: S): Schema<Infer<S> | null> & { readonly inner: S } {
  if (!isSchema(inner)) throw new TypeError("v.nullable: expected a schema");
  const c = inner["~check"];
  const expected = `${inner["~expected"]} | null`;
  return make(
    "nullable",
    expected,
    (value) => {
      if (value === null) return undefined;
      const issue = c(value);
      if (issue !== undefined && issue.path.length === 0 && issue.expected !== undefined) issue.expected = expected;
      return issue;
    },
    () => ({ anyOf: [inner.toJSONSchema(), { type: "null" }] }),
    { inner },
  );
}

/** Argument schema builders. Objects are strict: unknown keys are rejected. */
export const v = Object.freeze({
  object,
  string: (): Schema<string> => stringSchema,
  number: (): Schema<number> => numberSchema,
  /** A safe integer (`Number.isSafeInteger`). */
  int: (): Schema<number> => intSchema,
  boolean: (): Schema<boolean> => booleanSchema,
  null: (): Schema<null> => nullSchema,
  /** Anything (no check). */
  unknown: (): Schema<unknown> => unknownSchema,
  literal,
  enum: enumOf,
  union,
  array,
  /** As an object property: the key may be absent. Elsewhere: `undefined` is accepted. */
  optional,
  nullable,
});

// ---------------------------------------------------------------------------------------------
// JSON-Schema subset
// ---------------------------------------------------------------------------------------------

const JSON_KEYWORDS = new Set([
  "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
  "title", "description", "default", "examples", "format", "$schema", "$id", "$comment",
]);
const JSON_TYPES: Record<string, (x: unknown) => boolean> = {
  string: (x) => typeof x === "string",
  number: (x) => typeof x === "number" && Number.isFinite(x),
  integer: (x) => Number.isSafeInteger(x),
  boolean: (x) => typeof x === "boolean",
  null: (x) => x === null,
  object: isPlainObject,
  array: isArray,
};

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (isArray(a) !== isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!hasOwn.call(b, k) || !deepEqual((a as any)[k], (b as any)[k])) return false;
  }
  return true;
}

function describeJson(s: JsonSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((x) => JSON.stringify(x)).join(" | ");
  if (s.anyOf) return unique(s.anyOf.map(describeJson)).join(" | ");
  if (s.type) return isArray(s.type) ? s.type.join(" | ") : (s.type as string);
  return "any value";
}

/** Compiles a JSON-Schema subset value to a check. Throws a TypeError on what it does not support. */
function compileJson(s: JsonSchema, where: string): Check {
  if (typeof s !== "object" || s === null || isArray(s)) {
    throw new TypeError(`stopgap: JSON schema at ${where} must be an object`);
  }
  for (const k of Object.keys(s)) {
    if (!JSON_KEYWORDS.has(k)) throw new TypeError(`stopgap: unsupported JSON Schema keyword "${k}" at ${where}`);
  }
  const checks: Check[] = [];
  const hasObjectKeywords =
    s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined;
  // `type: "object"` / `type: "array"` with their keywords: one check that includes the type.
  const objectTyped = s.type === "object" && hasObjectKeywords;
  const arrayTyped = s.type === "array" && s.items !== undefined;

  if (s.type !== undefined && !objectTyped && !arrayTyped) {
    const names = (isArray(s.type) ? s.type : [s.type]) as string[];
    const preds = names.map((n) => {
      const p = JSON_TYPES[n];
      if (!p) throw new TypeError(`stopgap: unsupported JSON Schema type "${n}" at ${where}`);
      return p;
    });
    const typeExpected = names.join(" | ");
    const p0 = preds[0];
    checks.push(
      preds.length === 1
        ? (x) => (p0(x) ? undefined : mismatch(typeExpected, x))
        : (x) => (preds.some((p) => p(x)) ? undefined : mismatch(typeExpected, x)),
    );
  }
  if (s.const !== undefined) {
    const c = s.const;
    checks.push((x) => (deepEqual(x, c) ? undefined : mismatch(JSON.stringify(c), x)));
  }
  if (s.enum !== undefined) {
    if (!isArray(s.enum)) throw new TypeError(`stopgap: "enum" at ${where} must be an array`);
    const values = s.enum;
    const enumExpected = values.map((x) => JSON.stringify(x)).join(" | ");
    checks.push((x) => (values.some((e) => deepEqual(x, e)) ? undefined : mismatch(enumExpected, x)));
  }
  if (s.anyOf !== undefined) {
    if (!isArray(s.anyOf) || s.anyOf.length === 0) {
      throw new TypeError(`stopgap: "anyOf" at ${where} must be a non-empty array`);
    }
    const branches = s.anyOf.map((b, i) => compileJson(b, `${where}.anyOf[${i}]`));
    const anyExpected = unique(s.anyOf.map(describeJson)).join(" | ");
    checks.push((x) => {
      const issues: Issue[] = [];
      for (const b of branches) {
        const issue = b(x);
        if (issue === undefined) return undefined;
        issues.push(issue);
      }
      return unionIssue(issues, anyExpected, x);
    });
  }
  if (hasObjectKeywords) {
    const props = s.properties ?? {};
    if (typeof props !== "object" || props === null || isArray(props)) {
      throw new TypeError(`stopgap: "properties" at ${where} must be an object`);
    }
    if (s.required !== undefined && !isArray(s.required)) {
      throw new TypeError(`stopgap: "required" at ${where} must be an array`);
    }
    const required = new Set(s.required ?? []);
    const keys = Object.keys(props);
    const propChecks = keys.map((k) => {
      const c = compileJson(props[k], `${where}.properties.${k}`);
      if (!required.has(k)) return (x: unknown) => (x === undefined ? undefined : c(x));
      if (c(undefined) !== undefined) return c; // already rejects a missing value
      const expected = describeJson(props[k]);
      return (x: unknown) => (x === undefined ? mismatch(expected, x) : c(x));
    });
    for (const k of required) {
      if (hasOwn.call(props, k)) continue;
      keys.push(k);
      propChecks.push((x) => (x === undefined ? { path: [], problem: "required key is missing" } : undefined));
    }
    const ap = s.additionalProperties;
    const extra = ap === false ? false : typeof ap === "object" && ap !== null ? compileJson(ap, `${where}.additionalProperties`) : true;
    const objCheck = objectCheck(keys, propChecks, extra);
    // Without `type: "object"`, these keywords apply to objects only (JSON Schema semantics).
    checks.push(objectTyped ? objCheck : (x) => (isPlainObject(x) ? objCheck(x) : undefined));
  }
  if (s.items !== undefined) {
    const arrCheck = arrayCheck(compileJson(s.items, `${where}.items`));
    checks.push(arrayTyped ? arrCheck : (x) => (isArray(x) ? arrCheck(x) : undefined));
  }
  if (checks.length === 0) return () => undefined;
  if (checks.length === 1) return checks[0];
  return (x) => {
    for (const c of checks) {
      const issue = c(x);
      if (issue !== undefined) return issue;
    }
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatPath(path: readonly Seg[]): string {
  let out = "$";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (IDENT.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function toError(issue: Issue): ValidationError {
  const problem = issue.expected !== undefined ? `expected ${issue.expected}` : issue.problem ?? "invalid value";
  return new ValidationError(formatPath(issue.path), problem, issue.detail, issue.hint);
}

function deepFreeze<T>(x: T): T {
  if (typeof x === "object" && x !== null && !Object.isFrozen(x)) {
    for (const k of Object.keys(x)) deepFreeze((x as any)[k]);
    Object.freeze(x);
  }
  return x;
}

const compiled = new WeakMap<object, { check: Check; json: JsonSchema }>();

function compile(schema: ArgsSchema): { check: Check; json: JsonSchema } {
  if (typeof schema !== "object" || schema === null) {
    throw new TypeError("stopgap: the argument schema must be a v schema or a JSON Schema object");
  }
  let c = compiled.get(schema);
  if (c === undefined) {
    c = isSchema(schema)
      ? { check: schema["~check"], json: deepFreeze(schema.toJSONSchema()) }
      : { check: compileJson(schema as JsonSchema, "$"), json: schema as JsonSchema };
    compiled.set(schema, c);
  }
  return c;
}

/**
 * Validates `value` against `schema` and returns it typed. Throws a `ValidationError`
 * (SQLSTATE 22023, `stopgap args validation failed at $.path: expected ...`) when it does not match.
 */
export function validate<const S extends ArgsSchema>(schema: S & StrictArgsSchema<S>, value: unknown): Infer<S> {
  const issue = compile(schema).check(value);
  if (issue !== undefined) throw toError(issue);
  return value as Infer<S>;
}

/** The JSON Schema of a `v` schema (a JSON-Schema value is returned as is). */
export function toJSONSchema(schema: ArgsSchema): JsonSchema {
  return compile(schema).json;
}

// ---------------------------------------------------------------------------------------------
// query / mutation
// ---------------------------------------------------------------------------------------------

const EXEC_REFUSED = "db.exec is not allowed in a query handler";

function readonlyDb(db: Db): ReadonlyDb {
  return {
    mode: "ro",
    query: (input: SqlInput, params?: SqlParams) =>
      params === undefined ? db.query(input) : db.query(input, params),
    exec: () =>
      Promise.reject(
        new StopgapError(EXEC_REFUSED, "25006", undefined, "declare the function with mutation(...) to write"),
      ),
    // plts itself runs a query handler's statements read-only: these only pass through.
    prepare: (sql: string, paramTypes?: readonly string[] | null, options?: PrepareOptions) =>
      db.prepare(sql, paramTypes, options),
    cursor: (input: SqlInput, params?: SqlParams, options?: CursorOptions) => db.cursor(input, params, options),
    transaction: <T>(body: (inner: ReadonlyDb) => Promise<T> | T) =>
      db.transaction((inner) => body(readonlyDb(inner))),
    fn: (name: string) => db.fn(name),
    ident: (name: string) => db.ident(name),
    literal: (value: unknown) => db.literal(value),
  } as ReadonlyDb;
}

/**
 * The context a query handler sees: plts's fields with a read-only `db`. `now` is a getter (on the
 * prototype) so plts computes it only if the handler reads it.
 */
class ReadonlyContext implements QueryContext {
  args: any;
  argv: any[];
  db: ReadonlyDb;
  fn: PltsContext["fn"];
  readonly #ctx: PltsContext;
  constructor(ctx: PltsContext) {
    this.args = ctx.args;
    this.argv = ctx.argv;
    this.db = readonlyDb(ctx.db);
    this.fn = ctx.fn;
    this.#ctx = ctx;
  }
  get now(): string {
    return this.#ctx.now;
  }
  get log(): Log {
    return this.#ctx.log;
  }
  get trigger(): TriggerContext | undefined {
    return this.#ctx.trigger;
  }
  get event(): EventTriggerContext | undefined {
    return this.#ctx.event;
  }
  get window(): WindowContext | undefined {
    return this.#ctx.window;
  }
  toJSON() {
    return { args: this.args, argv: this.argv, db: this.db, fn: this.fn, now: this.now };
  }
}

function wrap(kind: Kind, schema: ArgsSchema, handler: (args: any, ctx: any) => unknown): StopgapFunction {
  if (typeof handler !== "function") throw new TypeError(`stopgap: ${kind}(schema, handler): handler must be a function`);
  const { check, json } = compile(schema);
  const fn =
    kind === "query"
      ? async function stopgapQuery(ctx: PltsContext) {
          const issue = check(ctx.args);
          if (issue !== undefined) throw toError(issue);
          return handler(ctx.args, new ReadonlyContext(ctx));
        }
      : async function stopgapMutation(ctx: PltsContext) {
          const issue = check(ctx.args);
          if (issue !== undefined) throw toError(issue);
          return handler(ctx.args, ctx);
        };
  Object.defineProperties(fn, {
    __stopgap_kind: { value: kind, enumerable: true },
    __stopgap_args_schema: { value: json, enumerable: true },
  });
  return fn as unknown as StopgapFunction;
}

/**
 * A read-only handler. plts runs it with `ctx.db.mode = "ro"`: `ctx.db.exec` is refused
 * (SQLSTATE 25006) and PostgreSQL runs its SQL read-only.
 *
 * ```ts
 * export default query(v.object({ id: v.int() }), async ({ id }, ctx) =>
 *   (await ctx.db.query("select * from item where id = $1", [id]))[0] ?? null);
 * ```
 */
export function query<const S extends ArgsSchema, R>(
  argsSchema: S & StrictArgsSchema<S>,
  handler: (args: Infer<S>, ctx: QueryContext<Infer<S>>) => R,
): StopgapFunction<"query", Infer<S>, Awaited<R>> {
  return wrap("query", argsSchema, handler) as StopgapFunction<"query", Infer<S>, Awaited<R>>;
}

/** A handler that may write (`ctx.db.mode = "rw"`). */
export function mutation<const S extends ArgsSchema, R>(
  argsSchema: S & StrictArgsSchema<S>,
  handler: (args: Infer<S>, ctx: MutationContext<Infer<S>>) => R,
): StopgapFunction<"mutation", Infer<S>, Awaited<R>> {
  return wrap("mutation", argsSchema, handler) as StopgapFunction<"mutation", Infer<S>, Awaited<R>>;
}
