// Type-level tests for @stopgap/runtime. Compiled by `tsc -p test/types --noEmit`:
// every `@ts-expect-error` must hit an error, and everything else must type-check.
import {
  query,
  mutation,
  v,
  validate,
  type Infer,
  type PltsContext,
  type Db,
  type Row,
  type ReadonlyDb,
  type StopgapFunction,
} from "@stopgap/runtime";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_?: T): void {}

// --- v.int() is a number: toUpperCase is a type error ---------------------------------------
export const getItem = query(v.object({ id: v.int() }), async (args, ctx) => {
  const n: number = args.id;
  // @ts-expect-error -- `id` is a number
  args.id.toUpperCase();
  const rows = await ctx.db.query<{ name: string }>("select name from item where id = $1", [n]);
  const mode: "ro" = ctx.db.mode;
  void mode;
  return rows.length > 0 ? rows[0].name : null;
});
query(v.object({}), async (_args, ctx) => {
  // @ts-expect-error -- a query handler cannot write
  await ctx.db.exec("delete from item");
});
assertType<Equal<typeof getItem.__stopgap_kind, "query">>();
assertType<Equal<Awaited<ReturnType<typeof getItem>>, string | null>>();
const _sf: StopgapFunction = getItem;

// --- inference for every schema kind --------------------------------------------------------
const everything = v.object({
  s: v.string(),
  n: v.number(),
  i: v.int(),
  b: v.boolean(),
  z: v.null(),
  lit: v.literal("fixed"),
  e: v.enum(["a", "b", "c"]),
  u: v.union([v.string(), v.int()]),
  arr: v.array(v.object({ x: v.number() })),
  opt: v.optional(v.string()),
  nul: v.nullable(v.int()),
  nested: v.object({ deep: v.optional(v.array(v.enum([1, 2]))) }),
  any: v.unknown(),
});
type Everything = Infer<typeof everything>;
assertType<
  Equal<
    Everything,
    {
      s: string;
      n: number;
      i: number;
      b: boolean;
      z: null;
      lit: "fixed";
      e: "a" | "b" | "c";
      u: string | number;
      arr: { x: number }[];
      nul: number | null;
      nested: { deep?: (1 | 2)[] | undefined };
      any: unknown;
      opt?: string | undefined;
    }
  >
>();

export const save = mutation(everything, async (args, ctx) => {
  assertType<Equal<typeof args, Everything>>();
  const mode: "rw" = ctx.db.mode;
  const r = await ctx.db.exec({ sql: "insert into t values ($1)", params: [args.s] });
  const n: number = r.rowCount;
  // @ts-expect-error -- optional key may be undefined
  args.opt.length;
  // @ts-expect-error -- not in the schema
  args.missing;
  void mode;
  return { n };
});
assertType<Equal<typeof save.__stopgap_kind, "mutation">>();

// --- JSON-Schema subset ---------------------------------------------------------------------
export const byJson = query(
  {
    type: "object",
    properties: {
      id: { type: "integer" },
      tag: { enum: ["x", "y"] },
      names: { type: "array", items: { type: "string" } },
      either: { anyOf: [{ type: "string" }, { type: "null" }] },
      multi: { type: ["number", "null"] },
    },
    required: ["id", "names"],
    additionalProperties: false,
  },
  (args) => {
    assertType<
      Equal<
        typeof args,
        {
          id: number;
          names: string[];
          tag?: "x" | "y" | undefined;
          either?: string | null | undefined;
          multi?: number | null | undefined;
        }
      >
    >();
    // @ts-expect-error -- id is a number
    args.id.toUpperCase();
    return args.id;
  },
);

// A typo in a JSON Schema keyword is caught.
// @ts-expect-error -- "requried" is not a keyword
query({ type: "object", requried: ["id"] }, () => null);

// --- validate() and the context types -------------------------------------------------------
const point = validate(v.object({ x: v.number(), y: v.number() }), JSON.parse("{}"));
assertType<Equal<typeof point, { x: number; y: number }>>();

export default async function plain(ctx: PltsContext<{ id: number }>): Promise<Row[]> {
  const db: Db = ctx.db;
  return db.query("select $1::int as id", [ctx.args.id]);
}
// A ReadonlyDb is only ever made by plts/the runtime: its shape is checked, not constructed.
declare const ro: ReadonlyDb;
// @ts-expect-error -- a read-only db has no notify
void ro.notify;
void ro;

// ctx.db's other methods are typed.
export async function dbApi(ctx: PltsContext): Promise<number> {
  const st = await ctx.db.prepare("select $1::int as n", ["int"]);
  const kept = await ctx.db.prepare("select 1", null, { keep: true });
  await kept.free();
  const rows = await st.query<{ n: number }>([1]);
  assertType<Equal<typeof rows, { n: number }[]>>();
  await st.free();
  let total = 0;
  for await (const row of ctx.db.cursor<{ n: number }>("select n from t", [], { batch: 10 })) total += row.n;
  const r = await ctx.db.transaction(async (db) => (await db.exec("delete from t")).rowCount);
  assertType<Equal<typeof r, number>>();
  const upper = ctx.db.fn<string>("upper(text)");
  const s: string = await upper("x");
  await ctx.db.notify("chan", s + ctx.db.ident("T") + ctx.db.literal(null));
  ctx.log.notice("done", { detail: "d", code: "01000" });
  return total + r;
}
void _sf;
