// The README's examples type-check.
import { query, mutation, v } from "@stopgap/runtime";

export const getItem = query(v.object({ id: v.int() }), async ({ id }, ctx) => {
  const rows = await ctx.db.query<{ id: number; name: string }>(
    "select id, name from item where id = $1", [id]);
  return rows[0] ?? null;
});

export default mutation(
  v.object({ name: v.string(), tags: v.optional(v.array(v.string())) }),
  async (args, ctx) => {
    const { rowCount } = await ctx.db.exec(
      "insert into item (name, tags) values ($1, $2)", [args.name, args.tags ?? []]);
    return { inserted: rowCount };
  },
);

export const byJson = query(
  { type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: false },
  ({ id }) => id + 1, // id: number
);
const n: number = await byJson({} as any);
void n;
