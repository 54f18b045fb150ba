import { z } from 'zod';
import { withoutLooserBounds } from './issue-bounds.js';
import { closeSpelling } from './spelling.js';

/** A configuration that cannot be used; `problems` name each path and what was expected. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

/** The schema a value is parsed with once optional, default and pipe wrappers are looked through. */
function unwrapped(node: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    if (
      node instanceof z.ZodOptional ||
      node instanceof z.ZodNullable ||
      node instanceof z.ZodDefault ||
      node instanceof z.ZodPrefault
    ) {
      node = node.unwrap();
    } else if (node instanceof z.ZodPipe) {
      // A transform first (a preprocess) parses nothing itself: the schema after it does.
      node = node.in instanceof z.ZodTransform ? node.out : node.in;
    } else {
      return node;
    }
  }
}

/** The keys an object in `schema` at `path` takes, or none when the path leads to no object. */
function keysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let nodes = [schema];
  for (const part of path) {
    nodes = nodes.flatMap((node) => {
      const inner = unwrapped(node);
      if (inner instanceof z.ZodObject) {
        const child = typeof part === 'string' ? inner.shape[part] : undefined;
        return child ? [child] : [];
      }
      if (inner instanceof z.ZodArray) return typeof part === 'number' ? [inner.element] : [];
      if (inner instanceof z.ZodRecord) return [inner.valueType];
      if (inner instanceof z.ZodUnion) return [...inner.options];
      return [];
    });
  }
  return nodes.flatMap((node) => {
    const inner = unwrapped(node);
    return inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
  });
}

function unknownKey(issue: z.core.$ZodIssueUnrecognizedKeys, schema: z.core.$ZodType | undefined) {
  const known = schema ? keysAt(schema, issue.path) : [];
  return issue.keys
    .map((key) => {
      const close = closeSpelling(key, known);
      return `${formatPath([...issue.path, key])}: unknown key${close ? ` (did you mean ${close}?)` : ''}`;
    })
    .join('; ');
}

/**
 * One line per issue, `path: what was expected`, without echoing values (they may be secrets).
 * With the schema that was parsed, an unknown key is given the known one it most likely meant.
 */
export function describeConfigIssues(error: z.ZodError, schema?: z.core.$ZodType): string[] {
  return withoutLooserBounds(error.issues).map((issue) => {
    const path = formatPath(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        return unknownKey(issue, schema);
      case 'invalid_type':
        return `${path}: expected ${issue.expected}`;
      // A record's key refused: zod's own message ("Invalid key in record") hides the key's rule.
      case 'invalid_key':
        return `${path}: ${issue.issues.map((inner) => inner.message).join('; ')}`;
      case 'invalid_value':
        return issue.values.length === 1
          ? `${path}: expected ${JSON.stringify(issue.values[0])}`
          : `${path}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      default:
        return `${path}: ${issue.message}`;
    }
  });
}
