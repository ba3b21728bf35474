// Type-level tests for the function shapes of plts: set-returning functions, triggers, event
// triggers, window functions and procedures. Compiled by `tsc -p test/types --noEmit`.
import {
  mutation,
  query,
  v,
  type EventTriggerFunctionContext,
  type PltsContext,
  type SetResult,
  type SetReturningFunction,
  type TriggerContext,
  type TriggerFunction,
  type TriggerFunctionContext,
  type WindowContext,
  type WindowFunctionContext,
} from "@stopgap/runtime";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_?: T): void {}

// --- set-returning functions: an array, a generator, an async generator, a promise of one ------
type Item = { id: number; name: string };
export const asArray: SetReturningFunction<Item> = () => [{ id: 1, name: "a" }];
export const asGenerator: SetReturningFunction<number> = function* (ctx) {
  for (let i = 0; i < ctx.args.n; i++) yield i;
};
export const asAsyncGenerator: SetReturningFunction<Item> = async function* (ctx) {
  for (const row of await ctx.db.query<Item>("select id, name from item")) yield row;
};
export const asPromise: SetReturningFunction<string> = async () => new Set(["x", "y"]);
// @ts-expect-error -- a row of the wrong type
export const wrongRow: SetReturningFunction<Item> = () => [{ id: "1", name: "a" }];
// @ts-expect-error -- a single value is not a set
export const notASet: SetReturningFunction<number> = () => 1;
const rows: SetResult<number> = [1, 2, 3];
void rows;
// query/mutation handlers may return sets as well: the wrapper passes them through.
export const setQuery = query(v.object({ n: v.int() }), function* ({ n }) {
  for (let i = 0; i < n; i++) yield { i };
});
assertType<Equal<Awaited<ReturnType<typeof setQuery>>, Generator<{ i: number }, void, unknown>>>();

// --- triggers --------------------------------------------------------------------------------
type Account = { id: number; balance: string; updated_at: Date | null };
export const touch: TriggerFunction<Account> = (ctx) => {
  const t = ctx.trigger;
  assertType<Equal<typeof t.new, Account | null>>();
  assertType<Equal<typeof t.op, "INSERT" | "UPDATE" | "DELETE" | "TRUNCATE">>();
  assertType<Equal<typeof t.when, "BEFORE" | "AFTER" | "INSTEAD OF">>();
  assertType<Equal<typeof t.level, "ROW" | "STATEMENT">>();
  const where: string = `${t.schema}.${t.table} (${t.relid}) ${t.name} ${t.args.join(",")}`;
  void where;
  if (t.op === "DELETE") return null; // skip the row
  // @ts-expect-error -- new may be null (statement triggers, DELETE)
  t.new.updated_at = new Date();
  if (t.new === null) return undefined; // keep the row as it is
  return { ...t.new, updated_at: new Date() };
};
// @ts-expect-error -- a trigger returns a row, null or undefined
export const badTrigger: TriggerFunction<Account> = () => 42;
export async function audit(ctx: TriggerFunctionContext) {
  const { op, old } = ctx.trigger;
  await ctx.db.exec("insert into audit(op, old) values ($1, $2)", [op, old]);
}
export const plainCtx = (ctx: PltsContext) => {
  // In a plain PltsContext the shape-specific fields may be absent.
  // @ts-expect-error -- ctx.trigger may be undefined
  ctx.trigger.op;
  const tr: TriggerContext | undefined = ctx.trigger;
  return tr?.op ?? ctx.event?.tag ?? ctx.window?.position;
};
// A mutation handler used as a trigger function sees ctx.trigger too.
export const viaMutation = mutation(v.object({}), (_args, ctx) => ctx.trigger?.new ?? undefined);

// --- event triggers --------------------------------------------------------------------------
export function ddlLog(ctx: EventTriggerFunctionContext): void {
  const e: string = ctx.event.event;
  const tag: string = ctx.event.tag;
  void e, tag;
}

// --- window functions ------------------------------------------------------------------------
export function runningTotal(ctx: WindowFunctionContext<{ x: number }>): number {
  const w: WindowContext = ctx.window;
  const pos: number = w.position;
  const n: number = w.rowCount();
  const first = w.value<number>(0, 0, "head");
  assertType<Equal<typeof first, number | undefined>>();
  const prev = w.value("x", -1);
  assertType<Equal<typeof prev, unknown>>();
  const inFrame = w.frameValue<number>("x", 0, "tail");
  const same: boolean = w.peers(pos, pos + 1);
  w.setMark(pos);
  const total = ((w.memory.total as number | undefined) ?? 0) + ctx.args.x;
  w.memory.total = total;
  // @ts-expect-error -- seek is "current", "head" or "tail"
  w.value(0, 0, "end");
  // @ts-expect-error -- position is read-only
  w.position = 3;
  void n, inFrame, same;
  return total;
}

// --- procedures: transaction control ---------------------------------------------------------
export default async function batches(ctx: PltsContext<{ n: number }>): Promise<void> {
  for (let i = 0; i < ctx.args.n; i++) {
    await ctx.db.exec("insert into t values ($1)", [i]);
    if (i % 100 === 99) await ctx.db.commit();
  }
  const none: void = await ctx.db.rollback();
  void none;
}
export const roQuery = query(v.object({}), async (_args, ctx) => {
  // @ts-expect-error -- a query handler's read-only db has no transaction control
  await ctx.db.commit();
});
