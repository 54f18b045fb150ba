import { z } from 'zod';

/**
 * The output schema as a validator. Only local `$ref`s exist for it, so defining a schema can
 * never make the gateway fetch anything. Throws for a schema it cannot enforce, one that refers
 * back to itself without nesting among them (see `loopingRef`): zod builds it, and then overflows
 * the stack checking an answer.
 */
export function outputValidator(schema: Record<string, unknown>): z.ZodType {
  const loop = loopingRef(schema);
  if (loop !== undefined)
    throw new Error(
      `${loop} refers back to itself without nesting, so an answer could never be checked against it`,
    );
  return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
}

/**
 * Whether `value` passes the validator; undefined when checking it overflowed the stack, as a
 * recursive schema does on an answer nested deeper than the stack goes.
 */
export function matchesOutput(validator: z.ZodType, value: unknown): boolean | undefined {
  try {
    return validator.safeParse(value).success;
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** Keywords whose subschemas apply to the same value as their schema, not to a part of it. */
const IN_PLACE_LISTS = ['anyOf', 'oneOf', 'allOf'] as const;
const IN_PLACE = ['not', 'if', 'then', 'else'] as const;

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The pointer of a `$ref` that leads back to a schema it is part of without passing through a
 * keyword that descends into the value (`properties`, `items`, …): checking any value against it
 * recurses on that same value without end (JSON Schema calls such a schema invalid). A walk of the
 * schema's in-place edges (`$ref`, `anyOf`, `allOf`, `not`, …) looking for a cycle: linear in the
 * schema's size, where trying values against the built validator took exponential time on a
 * schema of nested `anyOf`s.
 */
export function loopingRef(root: Node): string | undefined {
  const state = new Map<Node, 'open' | 'done'>();
  // Iterative depth-first search: a schema may be deep, the stack is not.
  const stack: Array<{ node: Node; next: Array<[Node, string]> }> = [];
  const enter = (node: Node, path: string): string | undefined => {
    const seen = state.get(node);
    if (seen === 'open') return path;
    if (seen === 'done') return undefined;
    state.set(node, 'open');
    stack.push({ node, next: inPlace(root, node, path) });
    return undefined;
  };
  enter(root, '#');
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const edge = top.next.pop();
    if (!edge) {
      state.set(top.node, 'done');
      stack.pop();
      continue;
    }
    const loop = enter(edge[0], edge[1]);
    if (loop !== undefined) return loop;
  }
  return undefined;
}

/** The subschemas applied to the same value as `node`, each with the path that reaches it. */
function inPlace(root: Node, node: Node, path: string): Array<[Node, string]> {
  const edges: Array<[Node, string]> = [];
  if (typeof node.$ref === 'string') {
    const target = resolve(root, node.$ref);
    if (target) edges.push([target, `${path}/$ref`]);
  }
  for (const key of IN_PLACE_LISTS) {
    const list = node[key];
    if (Array.isArray(list))
      list.forEach((inner, i) => {
        if (isNode(inner)) edges.push([inner, `${path}/${key}/${i}`]);
      });
  }
  for (const key of IN_PLACE) {
    const inner = node[key];
    if (isNode(inner)) edges.push([inner, `${path}/${key}`]);
  }
  return edges;
}

/** A local `$ref` (`#`, `#/$defs/a`, a JSON pointer into the schema); undefined for any other. */
function resolve(root: Node, ref: string): Node | undefined {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let at: unknown = root;
  for (const token of ref.slice(2).split('/')) {
    const key = pointerToken(token);
    if (key === undefined) return undefined;
    if (!isNode(at) && !Array.isArray(at)) return undefined;
    at = Object.hasOwn(at, key) ? (at as Record<string, unknown>)[key] : undefined;
  }
  return isNode(at) ? at : undefined;
}

/** A JSON pointer's token as the key it names; undefined for a malformed escape. */
function pointerToken(token: string): string | undefined {
  try {
    return decodeURIComponent(token).replaceAll('~1', '/').replaceAll('~0', '~');
  } catch {
    return undefined;
  }
}
