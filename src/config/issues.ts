import type * as z from 'zod/mini';

/** `specs[3].cost` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(config)';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) v = v == null ? undefined : (v as Record<PropertyKey, unknown>)[p];
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** One line per zod issue: `specs[3].cost: expected 1–4, got 7`. */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = formatPath(issue.path);
  const got = valueAt(input, issue.path);
  // A numeric id silently loses its leading zeros (011 is 11 in JS): say so.
  if (issue.path.at(-1) === 'id' || (issue.path.at(-2) === 'dependsOn')) {
    if (typeof got === 'number') {
      return `${path}: expected a string id, got the number ${got} — write it in quotes ('0${got}'?); a number loses its leading zeros`;
    }
  }
  switch (issue.code) {
    case 'invalid_type':
      return `${path}: expected ${issue.expected === 'int' ? 'an integer' : issue.expected}, got ${show(got)}`;
    case 'too_small':
    case 'too_big': {
      const key = issue.path.at(-1);
      if (key === 'cost') return `${path}: expected 1–4, got ${show(got)}`;
      if (issue.origin === 'string') return issue.code === 'too_small' ? `${path}: must not be empty` : `${path}: ${issue.message}, got ${String(got).length} characters`;
      const bound = issue.code === 'too_small' ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      return `${path}: expected ${bound}, got ${show(got)}`;
    }
    case 'invalid_value':
      return `${path}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(got)}`;
    case 'unrecognized_keys':
      return `${path === '(config)' ? '' : `${path}: `}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} — check the spelling`.replace(/^unknown/, path === '(config)' ? 'unknown' : 'unknown');
    case 'invalid_union': {
      // Which form the value was meant as: the one that takes its keys, then the one with the fewest problems.
      const branches = (issue as { errors?: z.core.$ZodIssue[][] }).errors ?? [];
      const score = (b: z.core.$ZodIssue[]) => (b.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0) ? 1000 : 0) + b.length;
      const best = [...branches].filter((b) => b.length).sort((a, b) => score(a) - score(b))[0];
      if (best) return describeIssue({ ...best[0]!, path: [...issue.path, ...best[0]!.path] } as z.core.$ZodIssue, input);
      return `${path}: ${issue.message}${got !== undefined ? `, got ${show(got)}` : ''}`;
    }
    case 'invalid_format':
      return `${path}: ${issue.message}, got ${show(got)}`;
    default:
      return `${path}: ${issue.message}${got !== undefined ? `, got ${show(got)}` : ''}`;
  }
}
