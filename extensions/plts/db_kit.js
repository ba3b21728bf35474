// ctx.db's less frequent methods: prepare, cursor, transaction, fn, notify. Compiled once per realm,
// on the first use of any of them (see db_kit in realm.cpp), so that a realm that never uses them
// pays nothing. Embedded into plts.so at build time.
//
// Every ctx.db object carries the token of the call that made it under the symbol CALL, and a
// transaction's db its level under LEVEL (the call's own ctx.db is level 0). The methods are
// natives (`stubs`, shared by every ctx.db of the realm) that call the functions returned here with
// the db they were called on; a method called detached from its db acts for the running call.
//
// d(token, op, level, a, b, c) => Promise is the native behind them (see DbOp in db_bridge.cpp);
// q and x are ctx.db.query/exec's natives, (token, input, params, extra, level) => Promise; tx is
// commit/rollback's. PostgreSQL-side rules (read-only mode, a call that has ended, a transaction
// that is not the innermost) are checked in C++.
(function (d, q, x, tx, CALL, LEVEL, token, AI, stubs) {
  'use strict';
  const tokenOf = (db) =>
    db !== null && typeof db === 'object' && typeof db[CALL] === 'number' ? db[CALL] : token[0];
  const levelOf = (db) =>
    db !== null && typeof db === 'object' && typeof db[LEVEL] === 'number' ? db[LEVEL] : 0;
  const DONE = () => ({ value: undefined, done: true });

  // An async iterator over a cursor's rows, fetched `batch` at a time. The cursor opens now (its
  // statement runs when cursor() is called, as OPEN does); an error opening it surfaces at the
  // first next(). Leaving a for-await loop (break, return, throw) closes it, and so does the end
  // of the call.
  const cursorOf = (t, l, open, opts) => {
    let batch = 100;
    if (opts !== undefined && opts !== null) {
      const b = opts.batch;
      if (b !== undefined) {
        if (typeof b !== 'number' || !(b >= 1 && b <= 2147483647) || b % 1 !== 0)
          throw new TypeError('ctx.db.cursor: batch must be an integer from 1 to 2147483647');
        batch = b;
      }
    }
    // Handled here so that a cursor never iterated does not fail the call as an unhandled
    // rejection; next() re-throws the error.
    let id = 0, failure = null, rows = null, i = 0, done = false;
    const opening = open();  // after the options are checked: a refused cursor is never opened
    const opened = (async () => {
      try {
        id = await opening;
      } catch (e) {
        failure = e;
        done = true;
      }
    })();
    const close = async () => {
      if (!done) {
        done = true;
        await opened;
        if (id !== 0) {
          const c = id;
          id = 0;
          await d(t, 7, l, c);
        }
      }
      return DONE();
    };
    const it = {
      async next() {
        if (done && failure === null) return DONE();
        if (rows !== null && i < rows.length) return { value: rows[i++], done: false };
        await opened;
        if (failure !== null) {
          const e = failure;
          failure = null;
          throw e;
        }
        if (done) return DONE();
        try {
          rows = await d(t, 6, l, id, batch);
        } catch (e) {
          done = true;  // the native closed the failed cursor
          id = 0;
          throw e;
        }
        i = 0;
        if (rows.length === 0) return close();
        return { value: rows[i++], done: false };
      },
      return: close,
      close,
      [AI]() { return this; },
    };
    return it;
  };

  const statement = (t, l, id, n) => ({
    paramCount: n,
    query: (p, z) => d(t, 2, l, id, p, z),
    exec: (p, z) => d(t, 3, l, id, p, z),
    cursor: (p, o) => cursorOf(t, l, () => d(t, 5, l, id, p), o),
    free: () => d(t, 4, l, id),
  });

  // The db a transaction's callback receives: statements through it run inside the transaction.
  const transactionDb = (t, lvl, parent) => {
    const db = {
      mode: parent !== null && typeof parent === 'object' ? parent.mode : undefined,
      query: (i, p, z) => q(t, i, p, z, lvl),
      exec: (i, p, z) => x(t, i, p, z, lvl),
      prepare: stubs[0],
      cursor: stubs[1],
      transaction: stubs[2],
      fn: stubs[3],
      notify: stubs[4],
      ident: stubs[5],
      literal: stubs[6],
      commit: () => tx(t, false),
      rollback: () => tx(t, true),
    };
    db[CALL] = t;
    db[LEVEL] = lvl;
    return db;
  };

  // A kept statement ({ keep: true }) outlives its call: it runs for the call running when it is
  // used, at that call's innermost transaction (level -1).
  const keptStatement = (id, n) => ({
    paramCount: n,
    query: (p, z) => d(token[0], 2, -1, id, p, z),
    exec: (p, z) => d(token[0], 3, -1, id, p, z),
    cursor: (p, o) => { const t = token[0]; return cursorOf(t, -1, () => d(t, 5, -1, id, p), o); },
    free: () => d(token[0], 4, -1, id),
  });

  const prepare = async (db, sql, types, opts) => {
    const t = tokenOf(db), l = levelOf(db);
    const keep = opts !== undefined && opts !== null && opts.keep === true;
    const r = await d(t, 1, l, sql, types, keep);
    return keep ? keptStatement(r[0], r[1]) : statement(t, l, r[0], r[1]);
  };

  const cursor = (db, sql, params, opts) => {
    const t = tokenOf(db), l = levelOf(db);
    return cursorOf(t, l, () => d(t, 5, l, sql, params), opts);
  };

  const transaction = async (db, cb) => {
    if (typeof cb !== 'function')
      throw new TypeError('ctx.db.transaction: expected a function, (db) => ...');
    const t = tokenOf(db), l = levelOf(db);
    const lvl = await d(t, 8, l);
    let result;
    try {
      result = await cb(transactionDb(t, lvl, db));
    } catch (e) {
      try {
        await d(t, 9, l, lvl, true);
      } catch (ignored) {
        // The call's end rolls it back if this could not.
      }
      throw e;
    }
    await d(t, 9, l, lvl, false);
    return result;
  };

  const fn = (db, name) => {
    if (typeof name !== 'string') throw new TypeError('ctx.db.fn: the name must be a string');
    const t = tokenOf(db), l = levelOf(db);
    return async (...args) => {
      const r = await d(t, 10, l, name, args);
      const rows = r[0];
      if (r[2]) {
        if (!r[1]) return rows;
        const out = new Array(rows.length);
        for (let k = 0; k < rows.length; k++) out[k] = rows[k].v;
        return out;
      }
      return rows.length > 0 ? rows[0].v : null;
    };
  };

  const notify = (db, channel, payload) => d(tokenOf(db), 11, levelOf(db), channel, payload);

  return [prepare, cursor, transaction, fn, notify];
})
