import type { z } from 'zod';

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

/** One line per issue, `path: what was expected`, without echoing values (they may be secrets). */
export function describeConfigIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`).join('; ');
      case 'invalid_type':
        return `${path}: expected ${issue.expected}`;
      case 'invalid_value':
        return `${path}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      default:
        return `${path}: ${issue.message}`;
    }
  });
}
