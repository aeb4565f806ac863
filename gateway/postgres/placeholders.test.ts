// The placeholder rewrite, statement by statement: what better-sqlite3 takes
// in, what PostgreSQL is sent, and where each value goes.
import t from 'tap'
import { bindSlots, translatePlaceholders } from './placeholders.js'

const vectors: Array<{ name: string; sqlite: string; postgres: string; slots: unknown[] }> = [
  { name: 'anonymous', sqlite: 'SELECT * FROM t WHERE a = ? AND b = ?', postgres: 'SELECT * FROM t WHERE a = $1 AND b = $2', slots: [{ kind: 'positional', index: 0 }, { kind: 'positional', index: 1 }] },
  { name: '@name used twice is one slot', sqlite: 'UPDATE t SET a = @a WHERE b = @b OR c = @a', postgres: 'UPDATE t SET a = $1 WHERE b = $2 OR c = $1', slots: [{ kind: 'named', name: 'a' }, { kind: 'named', name: 'b' }] },
  { name: ':name and $name', sqlite: 'INSERT INTO t (a, b) VALUES (:first_one, $second)', postgres: 'INSERT INTO t (a, b) VALUES ($1, $2)', slots: [{ kind: 'named', name: 'first_one' }, { kind: 'named', name: 'second' }] },
  { name: 'a ? in a string literal is text', sqlite: "SELECT 'why? it''s @not :a $param' AS q, ? AS p", postgres: "SELECT 'why? it''s @not :a $param' AS q, $1 AS p", slots: [{ kind: 'positional', index: 0 }] },
  { name: 'quoted identifiers and comments are left alone', sqlite: 'SELECT "odd?name" -- is it ?\nFROM t /* @x :y */ WHERE a = ?', postgres: 'SELECT "odd?name" -- is it ?\nFROM t /* @x :y */ WHERE a = $1', slots: [{ kind: 'positional', index: 0 }] },
  { name: "PostgreSQL's ::cast is not a parameter", sqlite: 'SELECT ?::bigint, :n::text', postgres: 'SELECT $1::bigint, $2::text', slots: [{ kind: 'positional', index: 0 }, { kind: 'named', name: 'n' }] },
  { name: 'no parameters', sqlite: 'SELECT COUNT(*) AS n FROM t', postgres: 'SELECT COUNT(*) AS n FROM t', slots: [] },
  { name: 'statements already in $n form pass unchanged', sqlite: 'SELECT $1::int + $2', postgres: 'SELECT $1::int + $2', slots: [] },
]

for (const v of vectors) {
  t.test(v.name, async (t) => {
    const translated = translatePlaceholders(v.sqlite)
    t.equal(translated.text, v.postgres)
    t.same(translated.slots, v.slots)
  })
}

t.test('forms PostgreSQL cannot take, and broken statements, are refused with the statement', async (t) => {
  t.throws(() => translatePlaceholders('SELECT ?1'), { name: 'SyntaxError', message: /numbered parameters/ })
  t.throws(() => translatePlaceholders('SELECT $1, ?'), { message: /mixes PostgreSQL's \$n/ })
  t.throws(() => translatePlaceholders("SELECT 'open"), { message: /unterminated string literal/ })
  t.throws(() => translatePlaceholders('SELECT "open'), { message: /unterminated quoted identifier/ })
  t.throws(() => translatePlaceholders('SELECT /* open'), { message: /unterminated comment/ })
})

t.test('values are bound as better-sqlite3 binds them', async (t) => {
  const mixed = translatePlaceholders('SELECT ?, @a, ?, @a, :b')
  t.same(bindSlots(mixed, ['x', 'y', { a: 1, b: null }]), ['x', 1, 'y', null], 'anonymous in order, then named ones')
  t.same(bindSlots(translatePlaceholders('SELECT ?, ?'), [['x', 'y']]), ['x', 'y'], 'an array is spread, as better-sqlite3 does')
  const buffer = Buffer.from([1, 2])
  t.same(bindSlots(translatePlaceholders('SELECT ?'), [buffer]), [buffer], 'a Buffer is a value, not named parameters')
  t.throws(() => bindSlots(translatePlaceholders('SELECT ?, ?'), ['x']), { name: 'RangeError', message: /takes 2 anonymous parameters, 1 were given/ })
  t.throws(() => bindSlots(translatePlaceholders('SELECT @a'), [{ b: 1 }]), { message: /missing named parameter a/ })
  t.throws(() => bindSlots(translatePlaceholders('SELECT @toString'), [{}]), { message: /missing named parameter toString/ }, 'inherited properties are not parameters')
})
