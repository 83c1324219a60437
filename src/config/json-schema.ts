/** JSON Schema from the zod schema (what `gatehouse schema` prints), and a walker to find the keys known at a path. */
import { z } from 'zod';

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  [key: string]: unknown;
};

export function toJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
}

function branches(node: JsonSchema, root: JsonSchema): JsonSchema[] {
  if (node.$ref?.startsWith('#/$defs/')) {
    const def = root.$defs?.[node.$ref.slice(8)];
    return def ? branches(def, root) : [];
  }
  const subs = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
  return subs.length ? subs.flatMap((s) => branches(s, root)) : [node];
}

/** The schema nodes (union branches resolved) that may describe the value at `path`. */
export function nodesAt(root: JsonSchema, path: readonly (string | number)[]): JsonSchema[] {
  let nodes = branches(root, root);
  for (const seg of path) {
    const next: JsonSchema[] = [];
    for (const n of nodes) {
      if (typeof seg === 'number') {
        if (n.items) next.push(...branches(n.items, root));
      } else if (n.properties?.[seg]) {
        next.push(...branches(n.properties[seg]!, root));
      } else if (typeof n.additionalProperties === 'object') {
        next.push(...branches(n.additionalProperties, root));
      }
    }
    nodes = next;
  }
  return nodes;
}

/** The object keys the schema allows at `path` (empty when the node is not an object with known keys). */
export function knownKeys(root: JsonSchema, path: readonly (string | number)[]): string[] {
  return [...new Set(nodesAt(root, path).flatMap((n) => Object.keys(n.properties ?? {})))];
}

/** Whether the value at `path` is a secret (`writeOnly` in the schema): error messages never show it. */
export function isSecret(root: JsonSchema, path: readonly (string | number)[]): boolean {
  return nodesAt(root, path).some((n) => n.writeOnly === true);
}
