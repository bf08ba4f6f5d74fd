/**
 * Preloaded by test/run.sh (uvu -r). uvu formats a failure by reading the
 * error's `details` as a string; a BlockstoreError carries `details` as an
 * object, so uvu's formatter threw inside its own catch: the failure printed
 * nothing, and the suite's remaining tests never ran (counted as failed,
 * silently). Every test and hook is wrapped so that such an error reaches
 * uvu as a plain Error naming its code, with its stack.
 */
const uvu = require('uvu');

function visible(err) {
  if (err && typeof err === 'object' && err.details !== undefined && typeof err.details !== 'string') {
    const e = new Error(`${err.code ?? err.name}: ${err.message}${Object.keys(err.details).length ? ` ${JSON.stringify(err.details)}` : ''}`);
    e.stack = `${e.message}\n${String(err.stack ?? '').split('\n').slice(1).join('\n')}`;
    return e;
  }
  return err;
}

const wrap = (fn) => async (...args) => {
  try {
    return await fn(...args);
  } catch (err) {
    throw visible(err);
  }
};

function wrapSuite(t) {
  const w = (name, fn) => t(name, wrap(fn));
  w.only = (name, fn) => t.only(name, wrap(fn));
  w.skip = (...args) => t.skip(...args);
  w.run = (...args) => t.run(...args);
  w.before = (fn) => t.before(wrap(fn));
  w.before.each = (fn) => t.before.each(wrap(fn));
  w.after = (fn) => t.after(wrap(fn));
  w.after.each = (fn) => t.after.each(wrap(fn));
  return w;
}

const suite = uvu.suite;
uvu.suite = (...args) => wrapSuite(suite(...args));
uvu.test = wrapSuite(uvu.test);
