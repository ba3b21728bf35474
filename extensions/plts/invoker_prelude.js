// The start of every invoker factory's body (see make_invoker in realm.cpp), with `kit` in scope:
// the realm's intrinsics as they were before any user code ran, and two cells C++ shares with the
// realm (see Realm::kit in realm.h). Embedded into plts.so at build time;
// runtime-js/test/invoker_prelude.test.mjs checks nowOf against toISOString.
//
// nowOf(t) is ctx.now: the ISO 8601 text of t (ms since 1970) as Date#toISOString writes it, made
// when the millisecond changes; the date and time up to the second are kept per second. Invokers
// test `clock[0] === lastT` themselves and call it only then: nowOf is too big for TurboFan to
// inline, and a call per invocation cost a trivial function ~5 %. A single-statement call starts a
// new transaction each time: Date and toISOString cost it ~10 us in cold code, this ~1 us.
  const stringify = kit[0], getProto = kit[1], OP = kit[2], AP = kit[3], flag = kit[4],
        clock = kit[5], toISO = kit[6], apply = kit[7], D = kit[8], floor = kit[9],
        token = kit[10];
  const two = (i) => (i < 10 ? '0' : '') + i;
  let lastT = NaN, lastS = '', lastSec = NaN, secS = '', lastDay = NaN, dayS = '';
  const nowOf = (t) => {
    if (t === lastT) return lastS;
    const s = floor(t / 1000);
    if (s !== lastSec) {
      const day = floor(s / 86400);
      if (day !== lastDay) {
        // The civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted).
        const z = day + 719468, era = floor(z / 146097), doe = z - era * 146097;
        const yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365);
        const doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100));
        const mp = floor((5 * doy + 2) / 153), d = doy - floor((153 * mp + 2) / 5) + 1;
        const m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2 ? 1 : 0);
        if (y < 1000 || y > 9999) {
          lastT = t;
          lastSec = lastDay = NaN;
          return (lastS = apply(toISO, new D(t), []));
        }
        dayS = y + '-' + two(m) + '-' + two(d) + 'T';
        lastDay = day;
      }
      let x = s - day * 86400;
      const h = floor(x / 3600);
      x -= h * 3600;
      const mi = floor(x / 60);
      x -= mi * 60;
      secS = dayS + two(h) + ':' + two(mi) + ':' + two(x) + '.';
      lastSec = s;
    }
    const ms = t - s * 1000;
    lastT = t;
    return (lastS = secS + (ms < 100 ? '0' : '') + two(ms) + 'Z');
  };
