import { query, mutation, v } from "@stopgap/runtime";

export const get = query(v.object({ id: v.int() }), async ({ id }, ctx) => {
  const rows = await ctx.db.query<{ id: number; name: string; created: Date }>(
    "select id, name, created from app_user where id = $1",
    [id],
  );
  const row = rows[0];
  return row ? { id: row.id, name: row.name, created: row.created, nickname: undefined as string | undefined } : null;
});

export const rename = mutation(v.object({ id: v.int(), name: v.string() }), async (args, ctx) => {
  const { rowCount } = await ctx.db.exec("update app_user set name = $2 where id = $1", [args.id, args.name]);
  return { renamed: rowCount === 1 };
});

// Not a function: left out of api.ts.
export const MAX_NAME = 80;
