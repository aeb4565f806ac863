// The configuration reference of a daemon, read from its config schema (TypeBox,
// i.e. JSON Schema): every key with its type, default, environment variable,
// whether it is a secret, and the schema's own description. The gateway and the
// kiosk print it (--print-config-reference) and CONFIGURATION.md holds it,
// checked by a test, so the documentation cannot drift from the code.
// Secrets are marked in the schema with the extra keyword `secret: true`: the
// same mark masks them when the effective config is printed (maskSecrets).

/** The parts of a JSON Schema this module reads. */
interface SchemaNode {
  type?: string
  description?: string
  secret?: boolean
  properties?: Record<string, SchemaNode>
  required?: string[]
  items?: SchemaNode
  anyOf?: SchemaNode[]
  const?: unknown
  pattern?: string
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  '~optional'?: boolean
}

export interface ConfigKeyDoc {
  /** Dotted path in the config file; `[]` marks the items of a list (`operators[].token`). */
  key: string
  type: string
  /** JSON of the default, or undefined when there is none. */
  default?: string
  env?: string
  secret: boolean
  description: string
}

export interface DescribeOptions {
  /** The defaults, nested like the config. */
  defaults?: unknown
  /** Environment variable per key path. */
  env?: Readonly<Record<string, string>>
}

function at(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined
}

function range(node: SchemaNode): string {
  if (node.minimum !== undefined && node.maximum !== undefined) return ` ${node.minimum}-${node.maximum}`
  if (node.minimum !== undefined) return ` ≥ ${node.minimum}`
  if (node.maximum !== undefined) return ` ≤ ${node.maximum}`
  return ''
}

/** A short human type: `integer 0-65535`, `"info" or "warn"`, `list of objects`. */
export function describeType(node: SchemaNode): string {
  if (node.anyOf !== undefined) {
    if (node.anyOf.every((n) => n.const !== undefined)) return node.anyOf.map((n) => JSON.stringify(n.const)).join(', ')
    return node.anyOf.map(describeType).join(' or ')
  }
  switch (node.type) {
    case 'integer':
    case 'number':
      return `${node.type}${range(node)}`
    case 'string': {
      const min = node.minLength ?? 0
      const length = node.maxLength !== undefined && node.pattern === undefined ? ` (${min}-${node.maxLength} characters)` : min > 1 ? ` (at least ${min} characters)` : ''
      return `string${length}`
    }
    case 'array':
      return node.items === undefined ? 'list' : node.items.type === 'object' ? 'list of objects' : `list of ${describeType(node.items)}`
    case undefined:
      return 'any'
    default:
      return node.type
  }
}

/** Every leaf key of the schema, depth first in the schema's order. */
export function describeConfigSchema(schema: unknown, options: DescribeOptions = {}): ConfigKeyDoc[] {
  const rows: ConfigKeyDoc[] = []
  const walk = (node: SchemaNode, path: string, defaults: unknown, inherited: string | undefined) => {
    const isObject = node.type === 'object' && node.properties !== undefined
    const isListOfObjects = node.type === 'array' && node.items?.type === 'object' && node.items.properties !== undefined
    if (isObject || isListOfObjects) {
      // A section's own row says what it is; its keys follow.
      const description = node.description ?? inherited
      if (path !== '' && description !== undefined) rows.push({ key: path, type: isObject ? 'object' : 'list of objects', secret: false, description, ...defaultOf(defaults, isListOfObjects) })
      const inner = isObject ? node : node.items!
      for (const [name, child] of Object.entries(inner.properties!)) {
        const childPath = path === '' ? name : isListOfObjects ? `${path}[].${name}` : `${path}.${name}`
        walk(child, childPath, isObject ? at(defaults, name) : undefined, undefined)
      }
      return
    }
    const row: ConfigKeyDoc = { key: path, type: describeType(node), secret: node.secret === true, description: node.description ?? '' }
    if (defaults !== undefined) row.default = JSON.stringify(defaults)
    const env = options.env?.[path]
    if (env !== undefined) row.env = env
    rows.push(row)
  }
  const defaultOf = (defaults: unknown, list: boolean): { default?: string } =>
    list && Array.isArray(defaults) ? { default: JSON.stringify(defaults) } : {}
  walk(schema as SchemaNode, '', options.defaults, undefined)
  return rows
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** A Markdown table of the keys (one line each, so a diff shows which key changed). */
export function renderConfigTable(rows: readonly ConfigKeyDoc[]): string {
  const lines = ['| key | type | default | environment | meaning |', '| --- | --- | --- | --- | --- |']
  for (const row of rows) {
    const meaning = `${row.secret ? '**Secret.** ' : ''}${row.description}`
    lines.push(`| \`${row.key}\` | ${cell(row.type)} | ${row.default === undefined ? '' : `\`${cell(row.default)}\``} | ${row.env === undefined ? '' : `\`${row.env}\``} | ${cell(meaning)} |`)
  }
  return `${lines.join('\n')}\n`
}

export const MASKED = '[secret]'

/** A copy of `value` with every value the schema marks `secret` replaced by MASKED. */
export function maskSecrets(value: unknown, schema: unknown): unknown {
  const node = schema as SchemaNode
  if (value === undefined) return undefined
  if (node.secret === true) return MASKED
  if (node.type === 'object' && node.properties !== undefined && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) {
      const child = node.properties[key]
      // A key the schema does not know is not printed: it might be anything.
      if (child !== undefined) out[key] = maskSecrets(v, child)
    }
    return out
  }
  if (node.type === 'array' && node.items !== undefined && Array.isArray(value)) return value.map((v) => maskSecrets(v, node.items))
  return value
}

/**
 * Replaces the text between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`
 * in a document. Throws when the markers are missing.
 */
export function replaceGeneratedSection(document: string, name: string, content: string): string {
  const start = `<!-- generated:${name} -->\n`
  const end = `<!-- /generated:${name} -->`
  const from = document.indexOf(start)
  const to = document.indexOf(end)
  if (from < 0 || to < from) throw new Error(`the document has no section ${start.trim()} ... ${end}`)
  return document.slice(0, from + start.length) + content + document.slice(to)
}

/** The text of a generated section, or undefined when its markers are missing. */
export function generatedSection(document: string, name: string): string | undefined {
  const start = `<!-- generated:${name} -->\n`
  const end = `<!-- /generated:${name} -->`
  const from = document.indexOf(start)
  const to = document.indexOf(end)
  return from < 0 || to < from ? undefined : document.slice(from + start.length, to)
}
