import * as rt from "@stopgap/runtime";

export const list = rt.query(
  rt.v.object({ done: rt.v.optional(rt.v.boolean()), limit: rt.v.optional(rt.v.int()) }),
  async (args, ctx) => {
    const rows = await ctx.db.query<{ id: number; title: string; done: boolean }>(
      "select id, title, done from todo where $1::boolean is null or done = $1 limit $2",
      [args.done ?? null, args.limit ?? 100],
    );
    return rows;
  },
);

export const add = rt.mutation(rt.v.object({ title: rt.v.string() }), async ({ title }, ctx) => {
  const [row] = await ctx.db.query<{ id: number }>("insert into todo (title) values ($1) returning id", [title]);
  return row.id;
});
