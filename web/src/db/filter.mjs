// Mongo-style query filters over plain documents: the subset the store documents.
//   equality            {field: value}         (an array field matches if any element equals)
//   comparison          {field: {$eq|$ne|$gt|$gte|$lt|$lte: value}}
//   membership          {field: {$in: [...]}}, {field: {$nin: [...]}}
//   presence            {field: {$exists: true|false}}
//   logic               {$and: [f, ...]}, {$or: [f, ...]}, {$nor: [f, ...]}
// Field names may be dotted paths ('meta.camera.make'). Semantics follow MongoDB's query
// operators (https://www.mongodb.com/docs/manual/reference/operator/query/) for these cases;
// ordering comparisons only compare values of the same type (numbers, strings, Dates).
import { ClipdbError } from '../errors.mjs';

const MISSING = Symbol('missing');

/** Value at a dotted path, or MISSING. */
export function getPath(doc, path) {
  let v = doc;
  for (const part of path.split('.')) {
    if (v == null || typeof v !== 'object' || !(part in v)) return MISSING;
    v = v[part];
  }
  return v;
}

function isPlainObject(v) {
  return v != null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

function scalarEquals(a, b) {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a === b) return true;
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => scalarEquals(a[k], b[k]));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => scalarEquals(x, b[i]));
  return false;
}

function equals(value, target) {
  if (value === MISSING) return target === null; // Mongo: {f: null} matches missing fields
  if (scalarEquals(value, target)) return true;
  return Array.isArray(value) && value.some((x) => scalarEquals(x, target));
}

function comparable(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return true;
  if (typeof a === 'string' && typeof b === 'string') return true;
  return a instanceof Date && b instanceof Date;
}

function cmp(value, target, op) {
  const vs = Array.isArray(value) ? value : [value];
  return vs.some((v) => {
    if (!comparable(v, target)) return false;
    const a = v instanceof Date ? v.getTime() : v, b = target instanceof Date ? target.getTime() : target;
    switch (op) {
      case '$gt': return a > b;
      case '$gte': return a >= b;
      case '$lt': return a < b;
      default: return a <= b;
    }
  });
}

function matchOperators(value, spec, path) {
  for (const [op, arg] of Object.entries(spec)) {
    switch (op) {
      case '$eq': if (!equals(value, arg)) return false; break;
      case '$ne': if (equals(value, arg)) return false; break;
      case '$gt': case '$gte': case '$lt': case '$lte':
        if (value === MISSING || !cmp(value, arg, op)) return false; break;
      case '$in':
        if (!Array.isArray(arg)) throw new ClipdbError('INVALID_ARGUMENT', `filter on '${path}': $in needs an array, got ${typeof arg}`);
        if (!arg.some((t) => equals(value, t))) return false; break;
      case '$nin':
        if (!Array.isArray(arg)) throw new ClipdbError('INVALID_ARGUMENT', `filter on '${path}': $nin needs an array, got ${typeof arg}`);
        if (arg.some((t) => equals(value, t))) return false; break;
      case '$exists': if ((value !== MISSING) !== Boolean(arg)) return false; break;
      case '$not': if (matchValue(value, arg, path)) return false; break;
      default:
        throw new ClipdbError('INVALID_ARGUMENT', `filter on '${path}': unsupported operator ${op}`);
    }
  }
  return true;
}

function matchValue(value, spec, path) {
  const isOps = isPlainObject(spec) && Object.keys(spec).length > 0 && Object.keys(spec).every((k) => k.startsWith('$'));
  return isOps ? matchOperators(value, spec, path) : equals(value, spec);
}

/**
 * True if `doc` matches `filter` (undefined/null/{} match everything).
 * Throws ClipdbError('INVALID_ARGUMENT') for an unsupported operator or a malformed filter.
 */
export function matches(doc, filter) {
  if (filter == null) return true;
  if (!isPlainObject(filter)) throw new ClipdbError('INVALID_ARGUMENT', `a filter must be a plain object, got ${typeof filter}`);
  for (const [key, spec] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(spec)) throw new ClipdbError('INVALID_ARGUMENT', `${key} needs an array of filters`);
      if (key === '$and' && !spec.every((f) => matches(doc, f))) return false;
      if (key === '$or' && !spec.some((f) => matches(doc, f))) return false;
      if (key === '$nor' && spec.some((f) => matches(doc, f))) return false;
    } else if (key.startsWith('$')) {
      throw new ClipdbError('INVALID_ARGUMENT', `unsupported top-level filter operator ${key}`);
    } else if (!matchValue(getPath(doc, key), spec, key)) {
      return false;
    }
  }
  return true;
}

/** True if the dotted `path` exists in `doc` (its value may be null). */
export function hasPath(doc, path) { return getPath(doc, path) !== MISSING; }

/** True for a filter that matches every document. */
export function isEmptyFilter(filter) {
  return filter == null || (isPlainObject(filter) && Object.keys(filter).length === 0);
}

function pathGetter(path) {
  const parts = path.split('.');
  if (parts.length === 1) {
    const p = parts[0];
    return (doc) => (doc != null && typeof doc === 'object' && p in doc ? doc[p] : MISSING);
  }
  return (doc) => {
    let v = doc;
    for (const part of parts) {
      if (v == null || typeof v !== 'object' || !(part in v)) return MISSING;
      v = v[part];
    }
    return v;
  };
}

function compileValue(spec, path) {
  const isOps = isPlainObject(spec) && Object.keys(spec).length > 0 && Object.keys(spec).every((k) => k.startsWith('$'));
  if (!isOps) {
    if (spec === null || typeof spec !== 'object') {
      // The common case (equality with a scalar): no generic comparison per document.
      return (v) => v === spec || (v === MISSING ? spec === null : Array.isArray(v) && v.indexOf(spec) >= 0);
    }
    return (v) => equals(v, spec);
  }
  const tests = Object.entries(spec).map(([op, arg]) => {
    switch (op) {
      case '$eq': return (v) => equals(v, arg);
      case '$ne': return (v) => !equals(v, arg);
      case '$gt': case '$gte': case '$lt': case '$lte': {
        // cmp() without its per-document array: one comparison for a scalar, any element of an array.
        const b = arg instanceof Date ? arg.getTime() : arg;
        const order = op === '$gt' ? (a) => a > b : op === '$gte' ? (a) => a >= b : op === '$lt' ? (a) => a < b : (a) => a <= b;
        const one = typeof arg === 'number' ? (x) => typeof x === 'number' && order(x)
          : typeof arg === 'string' ? (x) => typeof x === 'string' && order(x)
            : arg instanceof Date ? (x) => x instanceof Date && order(x.getTime())
              : () => false;
        return (v) => (Array.isArray(v) ? v.some(one) : v !== MISSING && one(v));
      }
      case '$in': case '$nin': {
        if (!Array.isArray(arg)) throw new ClipdbError('INVALID_ARGUMENT', `filter on '${path}': ${op} needs an array, got ${typeof arg}`);
        const scalars = arg.every((t) => t === null || typeof t !== 'object');
        const set = scalars ? new Set(arg) : null;
        const hit = scalars
          ? (v) => (v === MISSING ? set.has(null) : Array.isArray(v) ? v.some((x) => set.has(x)) : set.has(v))
          : (v) => arg.some((t) => equals(v, t));
        return op === '$in' ? hit : (v) => !hit(v);
      }
      case '$exists': return (v) => (v !== MISSING) === Boolean(arg);
      case '$not': { const inner = compileValue(arg, path); return (v) => !inner(v); }
      default: throw new ClipdbError('INVALID_ARGUMENT', `filter on '${path}': unsupported operator ${op}`);
    }
  });
  return tests.length === 1 ? tests[0] : (v) => tests.every((t) => t(v));
}

/**
 * A filter that is a conjunction of conditions on fields (its keys are all field paths: no
 * $and/$or/$nor) as [{path, get, test}], where test(get(doc)) is that field's condition, so that
 * a caller can evaluate it over columns of field values taken with `get` (compileFilter's
 * result is true exactly when every test passes); else null. Call compileFilter first: this
 * does not validate.
 */
export function fieldConditions(filter) {
  if (!isPlainObject(filter)) return null;
  const out = [];
  for (const [key, spec] of Object.entries(filter)) {
    if (key.startsWith('$')) return null;
    out.push({ path: key, get: pathGetter(key), test: compileValue(spec, key) });
  }
  return out.length ? out : null;
}

/**
 * `matches` compiled once for many documents: validates the filter now (a malformed filter
 * throws ClipdbError('INVALID_ARGUMENT') even if no document is tested) and returns a
 * function doc → boolean with the same results as matches(doc, filter).
 */
export function compileFilter(filter) {
  if (filter == null) return () => true;
  if (!isPlainObject(filter)) throw new ClipdbError('INVALID_ARGUMENT', `a filter must be a plain object, got ${typeof filter}`);
  const tests = Object.entries(filter).map(([key, spec]) => {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(spec)) throw new ClipdbError('INVALID_ARGUMENT', `${key} needs an array of filters`);
      const subs = spec.map(compileFilter);
      if (key === '$and') return (doc) => subs.every((f) => f(doc));
      if (key === '$or') return (doc) => subs.some((f) => f(doc));
      return (doc) => !subs.some((f) => f(doc));
    }
    if (key.startsWith('$')) throw new ClipdbError('INVALID_ARGUMENT', `unsupported top-level filter operator ${key}`);
    const get = pathGetter(key), test = compileValue(spec, key);
    return (doc) => test(get(doc));
  });
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0];
  return (doc) => tests.every((t) => t(doc));
}
