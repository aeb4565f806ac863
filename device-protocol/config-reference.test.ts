import t from 'tap'
import Type from 'typebox'
import { MASKED, describeConfigSchema, describeType, generatedSection, maskSecrets, renderConfigTable, replaceGeneratedSection } from './config-reference.js'

const Schema = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 255, description: 'where it listens' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, description: 'its port' }),
  level: Type.Union([Type.Literal('info'), Type.Literal('warn')], { description: 'log level' }),
  token: Type.Optional(Type.String({ minLength: 16, secret: true, description: 'the password | with a pipe' })),
  users: Type.Array(Type.Object({ name: Type.String({ description: 'who' }), pin: Type.String({ secret: true, description: 'their PIN' }) }), { description: 'accounts' }),
  nested: Type.Object({ key: Type.String({ secret: true, description: 'a nested secret' }), url: Type.String({ description: 'a url' }) }, { description: 'a section' }),
})

t.test('describeType says what a value must be', async (t) => {
  t.equal(describeType({ type: 'integer', minimum: 0, maximum: 9 }), 'integer 0-9')
  t.equal(describeType({ type: 'integer', minimum: 1 }), 'integer ≥ 1')
  t.equal(describeType({ type: 'string', minLength: 1, maxLength: 5 }), 'string (1-5 characters)')
  t.equal(describeType({ type: 'string', pattern: '^a$' }), 'string')
  t.equal(describeType({ anyOf: [{ const: 'a' }, { const: 'b' }] }), '"a", "b"')
  t.equal(describeType({ type: 'array', items: { type: 'string' } }), 'list of string')
  t.equal(describeType({ type: 'boolean' }), 'boolean')
})

t.test('describeConfigSchema lists every key with its default, variable and secrecy', async (t) => {
  const rows = describeConfigSchema(Schema, { defaults: { host: '127.0.0.1', port: 1883, users: [], nested: { url: 'http://x' } }, env: { host: 'X_HOST', token: 'X_TOKEN' } })
  t.same(
    rows.map((r) => [r.key, r.default, r.env, r.secret]),
    [
      ['host', '"127.0.0.1"', 'X_HOST', false],
      ['port', '1883', undefined, false],
      ['level', undefined, undefined, false],
      ['token', undefined, 'X_TOKEN', true],
      ['users', '[]', undefined, false],
      ['users[].name', undefined, undefined, false],
      ['users[].pin', undefined, undefined, true],
      ['nested', undefined, undefined, false],
      ['nested.key', undefined, undefined, true],
      ['nested.url', '"http://x"', undefined, false],
    ],
  )
  const table = renderConfigTable(rows)
  t.match(table, /^\| key \| type \| default \| environment \| meaning \|\n/)
  t.match(table, /\| `token` \| string \(at least 16 characters\) \| {2}\| `X_TOKEN` \| \*\*Secret\.\*\* the password \\\| with a pipe \|/, 'pipes in a cell are escaped')
  t.equal(table.trimEnd().split('\n').length, rows.length + 2, 'one line per key')
})

t.test('maskSecrets masks what the schema marks secret, at any depth, and drops keys the schema does not know', async (t) => {
  const value = { host: 'h', port: 1, level: 'info', token: 'super-secret-token-0123', users: [{ name: 'a', pin: '1234' }], nested: { key: 'k-secret', url: 'http://x' }, stray: 'x' }
  t.same(maskSecrets(value, Schema), { host: 'h', port: 1, level: 'info', token: MASKED, users: [{ name: 'a', pin: MASKED }], nested: { key: MASKED, url: 'http://x' } })
  t.same(maskSecrets({ host: 'h', users: [] }, Schema), { host: 'h', users: [] }, 'an absent secret stays absent')
  t.notMatch(JSON.stringify(maskSecrets(value, Schema)), /super-secret|k-secret|1234/)
})

t.test('generated sections are found and replaced between their markers only', async (t) => {
  const doc = 'intro\n<!-- generated:a -->\nold\n<!-- /generated:a -->\noutro\n'
  t.equal(generatedSection(doc, 'a'), 'old\n')
  t.equal(replaceGeneratedSection(doc, 'a', 'new\n'), 'intro\n<!-- generated:a -->\nnew\n<!-- /generated:a -->\noutro\n')
  t.equal(generatedSection(doc, 'b'), undefined)
  t.throws(() => replaceGeneratedSection(doc, 'b', 'x'), /no section/)
})
