import { query, v } from "@stopgap/runtime";

// A module path that is not an identifier: api["user-settings"].get.
export const get = query(v.object({}), () => ({ theme: "dark" as "dark" | "light" }));
