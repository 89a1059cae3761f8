import { z } from 'zod';
import { siteSchema } from './schema.js';

/**
 * docs/config.md, written from the site file's schema so the reference cannot drift from
 * what the loader accepts: every key with its type, default and description. A test checks
 * the committed file against this output; `npm run docs:config` rewrites it.
 *
 * @example
 * writeFileSync('docs/config.md', configReference());
 */

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  pattern?: string;
}

interface Row {
  key: string;
  type: string;
  required: boolean;
  default: string;
  description: string;
}

const INTRO = `# Site file reference

One YAML file describes the whole site. It is validated by one schema (src/config/schema.ts),
which also writes this page (\`npm run docs:config\`; a test fails when the two disagree).
Unknown keys are errors, and a bad file fails with the file name, the key's path
(\`applications[0].servers[1]\`) and what was expected.

Keys marked *restart* apply only when the interceptor starts; everything else is applied
live by a reload (\`kill -HUP\`, or \`switchyard ctl reload\`). A reload that finds the file
invalid is refused and the running configuration stays.

A duration is \`"250ms"\`, \`"2s"\`, \`"1.5m"\`, \`"1h"\`, or a number of milliseconds.

\`\`\`yaml
interceptor:
  listen: 127.0.0.1:8080
  admin: 127.0.0.1:8081
servers:
  - { name: web-a, url: http://127.0.0.1:9001, capacity: 1 }
  - { name: web-b, url: http://127.0.0.1:9002, capacity: 3 }
applications:
  - name: shop
    match: { pathPrefix: / }
    servers: [web-a, web-b]
    sorryPage: ./sorry.html
    maxConcurrent: 1000
    stateful: ["/cart/*", "/checkout"]
\`\`\`
`;

const SECTIONS: Array<[string, string]> = [
  ['interceptor', 'The front door: where it listens, its admin endpoint, its limits and checks.'],
  ['servers', 'Every server of the site, one URL each.'],
  ['applications', 'Every application: which requests belong to it and which servers serve it.'],
  [
    'manager',
    'The manager: where components reach it, its store, how load values and levels are computed. Optional: without it the interceptor runs alone on static capacities.',
  ],
  ['agents', 'One agent per host: the socket its interfaces dial, its servers, how it batches and probes.'],
];

export function configReference(): string {
  const root = z.toJSONSchema(siteSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const parts = [INTRO];
  for (const [name, blurb] of SECTIONS) {
    const node = root.properties![name]!;
    const rows: Row[] = [];
    const inner = node.type === 'array' ? node.items! : node;
    walk(inner, node.type === 'array' ? `${name}[]` : name, rows);
    parts.push(`## \`${name}\`\n\n${blurb}\n\n${table(rows)}`);
  }
  return `${parts.join('\n')}`;
}

function walk(node: JsonSchema, path: string, rows: Row[]): void {
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = `${path}.${key}`;
    rows.push({
      key: p,
      type: typeOf(child),
      required: required.has(key) && child.default === undefined,
      default: child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``,
      description: describe(child),
    });
    const obj = objectIn(child);
    if (obj) walk(obj.node, obj.list ? `${p}[]` : p, rows);
  }
}

/** The object schema inside a key (directly, in a list, or in one branch of a union). */
function objectIn(node: JsonSchema): { node: JsonSchema; list: boolean } | undefined {
  if (node.properties) return { node, list: false };
  if (node.type === 'array' && node.items) {
    const inner = objectIn(node.items);
    return inner ? { node: inner.node, list: true } : undefined;
  }
  for (const branch of node.anyOf ?? []) {
    const inner = objectIn(branch);
    if (inner) return inner;
  }
  return undefined;
}

function describe(node: JsonSchema): string {
  let d = node.description ?? node.anyOf?.find((b) => b.description)?.description ?? '';
  // The duration note is said once in the introduction.
  d = d.replace(/ A duration: .*$/, '');
  return d.replace(/\|/g, '\\|');
}

function typeOf(node: JsonSchema): string {
  if (node.anyOf) return [...new Set(node.anyOf.map(typeOf))].join(' or ');
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' or ');
  if (Array.isArray(node.type)) {
    if (node.description?.includes('A duration')) return 'duration';
    return node.type.join(' or ');
  }
  switch (node.type) {
    case 'array':
      return `list of ${node.items ? typeOf(node.items) : 'values'}`;
    case 'object':
      return 'object';
    case 'integer':
    case 'number': {
      const word = node.type === 'integer' ? 'integer' : 'number';
      const max =
        node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
      if (node.minimum !== undefined && max !== undefined) return `${word} ${node.minimum}..${max}`;
      if (node.minimum !== undefined) return `${word} ≥ ${node.minimum}`;
      return word;
    }
    default:
      return node.type ?? 'any';
  }
}

function table(rows: Row[]): string {
  const head = '| key | type | default | description |\n|---|---|---|---|\n';
  return `${head}${rows
    .map(
      (r) =>
        `| \`${r.key}\`${r.required ? ' (required)' : ''} | ${r.type} | ${r.default} | ${r.description} |`,
    )
    .join('\n')}\n`;
}
