-- Issue 13: window functions (CREATE FUNCTION ... WINDOW LANGUAGE plts, ctx.window).
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_win;
SET search_path = shape_win, public;

CREATE TABLE sales(region text, day int, amount int);
INSERT INTO sales VALUES
  ('east', 1, 10), ('east', 2, 20), ('east', 3, 20), ('east', 4, 5), ('east', 5, NULL),
  ('west', 1, 7), ('west', 2, 7), ('west', 3, 7), ('west', 4, 1),
  ('north', 1, 3);

-- a moving sum of the previous, current and next row through value(arg, offset)
CREATE FUNCTION moving_sum3(x int) RETURNS bigint WINDOW LANGUAGE plts AS $$
export default (ctx) => {
  const w = ctx.window;
  const vals = [w.value(0, -1), w.value(0, 0), w.value(0, 1)];
  return vals.filter((v) => v !== undefined && v !== null).reduce((a, b) => a + b, 0);
};
$$;
SELECT region, day, amount, moving_sum3(amount) OVER w AS js,
       coalesce(sum(amount) OVER (w ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), 0) AS builtin
  FROM sales WINDOW w AS (PARTITION BY region ORDER BY day) ORDER BY region, day;

-- a custom rank through peers() and the partition memory, against the built-in rank()
CREATE FUNCTION my_rank() RETURNS bigint WINDOW LANGUAGE plts AS $$
export default (ctx) => {
  const w = ctx.window, m = w.memory;
  if (w.position === 0 || !w.peers(w.position - 1, w.position)) m.rank = w.position + 1;
  return m.rank;
};
$$;
SELECT region, amount, my_rank() OVER w, rank() OVER w
  FROM sales WINDOW w AS (PARTITION BY region ORDER BY amount DESC NULLS LAST) ORDER BY region, amount DESC NULLS LAST;
SELECT count(*) AS mismatches FROM (
  (SELECT region, day, my_rank() OVER w AS r FROM sales WINDOW w AS (PARTITION BY region ORDER BY amount))
  EXCEPT
  (SELECT region, day, rank() OVER w AS r FROM sales WINDOW w AS (PARTITION BY region ORDER BY amount))) d;

-- rowCount() and position, against count(*) and row_number()
CREATE FUNCTION where_am_i() RETURNS text WINDOW LANGUAGE plts AS $$
export default (ctx) => `${ctx.window.position + 1}/${ctx.window.rowCount()}`;
$$;
SELECT region, day, where_am_i() OVER w, row_number() OVER w || '/' || count(*) OVER (PARTITION BY region) AS builtin
  FROM sales WINDOW w AS (PARTITION BY region ORDER BY day) ORDER BY region, day;

-- frameValue within a frame clause, against first_value / last_value / nth_value
CREATE FUNCTION frame_edges(x int) RETURNS text WINDOW LANGUAGE plts AS $$
export default (ctx) => {
  const w = ctx.window;
  const show = (v) => (v === undefined ? 'out' : String(v));
  return [w.frameValue(0, 0, 'head'), w.frameValue('x', 0, 'tail'), w.frameValue(0, 1, 'head')].map(show).join(',');
};
$$;
SELECT region, day, frame_edges(day) OVER w,
       concat_ws(',', first_value(day) OVER w, last_value(day) OVER w, coalesce((nth_value(day, 2) OVER w)::text, 'out')) AS builtin
  FROM sales WINDOW w AS (PARTITION BY region ORDER BY day ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) ORDER BY region, day;
-- the default frame (RANGE UNBOUNDED PRECEDING to the current row's last peer)
SELECT region, amount, frame_edges(amount) OVER w,
       concat_ws(',', first_value(amount) OVER w, last_value(amount) OVER w, coalesce((nth_value(amount, 2) OVER w)::text, 'out')) AS builtin
  FROM sales WHERE region = 'west' WINDOW w AS (ORDER BY amount) ORDER BY amount, day;

-- per-partition memory: a running total that restarts with each partition, against sum()
CREATE FUNCTION running_total(x int) RETURNS bigint WINDOW LANGUAGE plts AS $$
export default (ctx) => (ctx.window.memory.sum = (ctx.window.memory.sum ?? 0) + (ctx.args.x ?? 0));
$$;
SELECT region, day, running_total(amount) OVER w,
       coalesce(sum(amount) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS builtin
  FROM sales WINDOW w AS (PARTITION BY region ORDER BY day) ORDER BY region, day;

-- arguments by name and by index, lag/lead as value(arg, ±1) and head/tail seeks
CREATE FUNCTION neighbours(label text, x int) RETURNS text WINDOW LANGUAGE plts AS $$
export default (ctx) => {
  const w = ctx.window;
  return [w.value('x', -1), w.value(1, 1), w.value('label', 0, 'head'), w.value('label', 0, 'tail'),
          w.value('label', -1, 'tail'), ctx.args.label === w.value('label')].map((v) => (v === undefined ? '-' : String(v))).join(' ');
};
$$;
SELECT region, day, neighbours(region || day, amount) OVER w AS js,
       concat_ws(' ', coalesce((lag(amount) OVER w)::text, '-'), coalesce((lead(amount) OVER w)::text, '-')) AS lag_lead
  FROM sales WINDOW w AS (PARTITION BY region ORDER BY day) ORDER BY region, day;
-- NULLs and a value outside the partition are different things: null vs undefined
CREATE FUNCTION prev_of(x int) RETURNS text WINDOW LANGUAGE plts AS $$
export default (ctx) => { const v = ctx.window.value('x', -1); return v === undefined ? 'none' : v === null ? 'null' : String(v); };
$$;
SELECT day, amount, prev_of(amount) OVER (ORDER BY day) FROM sales WHERE region = 'east' AND day >= 4 ORDER BY day;

-- bad arguments: an out-of-range index, an unknown name, a bad seek, a non-number offset
CREATE FUNCTION bad_access(kind text) RETURNS text WINDOW LANGUAGE plts AS $$
export default (ctx) => {
  const w = ctx.window;
  switch (ctx.args.kind) {
    case 'index': return String(w.value(5));
    case 'negative': return String(w.value(-1));
    case 'name': return String(w.value('nope'));
    case 'seek': return String(w.value(0, 0, 'middle'));
    case 'offset': return String(w.value(0, 'one'));
    case 'frame_seek': return String(w.frameValue(0, 0, 'sideways'));
    case 'peers': return String(w.peers(0, 99));
  }
};
$$;
SELECT k, sqlstate_of(format('select shape_win.bad_access(%L) over () from shape_win.sales', k))
  FROM unnest(ARRAY['index', 'negative', 'name', 'seek', 'offset', 'frame_seek', 'peers']) k;

-- ctx.window kept after the call is dead
CREATE FUNCTION keep_window() RETURNS int WINDOW LANGUAGE plts AS $$
export default (ctx) => { globalThis.keptWindow = ctx.window; return ctx.window.position; };
$$;
CREATE FUNCTION use_kept() RETURNS text LANGUAGE plts AS $$ export default () => String(globalThis.keptWindow.rowCount()) $$;
CREATE FUNCTION use_kept_memory() RETURNS text LANGUAGE plts AS $$ export default () => String(globalThis.keptWindow.value(0)) $$;
SELECT max(k) FROM (SELECT keep_window() OVER () AS k FROM sales) s;
SELECT sqlstate_of('select shape_win.use_kept()'), sqlstate_of('select shape_win.use_kept_memory()');

-- a window function needs OVER; ctx.window is absent in ordinary functions
SELECT sqlstate_of('select shape_win.where_am_i() from shape_win.sales');
CREATE FUNCTION plain() RETURNS text LANGUAGE plts AS $$ export default (ctx) => String('window' in ctx) $$;
SELECT plain();
SELECT proname, prokind FROM pg_proc WHERE pronamespace = 'shape_win'::regnamespace AND proname IN ('my_rank', 'plain') ORDER BY 1;

-- errors thrown in a window function keep their SQLSTATE
CREATE FUNCTION fails_at(n int) RETURNS int WINDOW LANGUAGE plts AS $$
export default (ctx) => {
  if (ctx.window.position === ctx.args.n) throw Object.assign(new Error(`row ${ctx.args.n}`), { sqlstate: '22023' });
  return ctx.window.position;
};
$$;
SELECT sqlstate_of('select shape_win.fails_at(2) over (order by day) from shape_win.sales');

DROP SCHEMA shape_win CASCADE;
