// SQLite's parameter forms in PostgreSQL's: the gateway's modules write their
// statements once, in the SQL both engines run, with better-sqlite3's
// placeholders (`?`, `@name`, `:name`, `$name`). PostgreSQL takes only `$1`,
// `$2`, ... This module rewrites the placeholders and says which value goes
// into each `$n`; it changes nothing else of the statement (what is not
// portable must be written portably in the module, not translated here).
//
// Pure: text in, text and slots out. Placeholders inside string literals,
// quoted identifiers and comments are left alone, and PostgreSQL's `::type`
// cast is not a `:name` parameter.

/** Where the value of one `$n` comes from: the n-th anonymous argument, or a named one. */
export type ParameterSlot = { readonly kind: 'positional'; readonly index: number } | { readonly kind: 'named'; readonly name: string }

export interface TranslatedStatement {
  /** The statement with `$1`, `$2`, ... */
  readonly text: string
  /** slots[n - 1] says what `$n` is bound to. A name used twice is one slot. */
  readonly slots: readonly ParameterSlot[]
}

const isNameStart = (c: string): boolean => /[A-Za-z_]/.test(c)
const isNamePart = (c: string): boolean => /[A-Za-z0-9_]/.test(c)

/** Rewrites better-sqlite3's placeholders to PostgreSQL's; throws on forms PostgreSQL cannot take (`?NNN`, a bare `$1` beside SQLite placeholders). */
export function translatePlaceholders(sql: string): TranslatedStatement {
  const slots: ParameterSlot[] = []
  const namedSlot = new Map<string, number>()
  let positional = 0
  let nativeDollar = false
  let out = ''
  let i = 0
  const copyUntil = (end: number): void => {
    out += sql.slice(i, end)
    i = end
  }
  while (i < sql.length) {
    const c = sql[i]!
    const next = sql[i + 1] ?? ''
    if (c === "'" || c === '"') {
      // A quoted string or identifier; a doubled quote is an escaped one.
      let j = i + 1
      while (j < sql.length) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2
          else break
        } else j += 1
      }
      if (j >= sql.length) throw new SyntaxError(`unterminated ${c === "'" ? 'string literal' : 'quoted identifier'} in: ${sql}`)
      copyUntil(j + 1)
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i)
      copyUntil(end === -1 ? sql.length : end)
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2)
      if (end === -1) throw new SyntaxError(`unterminated comment in: ${sql}`)
      copyUntil(end + 2)
    } else if (c === ':' && next === ':') {
      copyUntil(i + 2)
    } else if (c === '?') {
      if (/[0-9]/.test(next)) throw new SyntaxError(`numbered parameters (?NNN) are not supported: ${sql}`)
      slots.push({ kind: 'positional', index: positional++ })
      out += `$${slots.length}`
      i += 1
    } else if ((c === '@' || c === ':' || c === '$') && isNameStart(next)) {
      let j = i + 1
      while (j < sql.length && isNamePart(sql[j]!)) j += 1
      const name = sql.slice(i + 1, j)
      let n = namedSlot.get(name)
      if (n === undefined) {
        slots.push({ kind: 'named', name })
        n = slots.length
        namedSlot.set(name, n)
      }
      out += `$${n}`
      i = j
    } else {
      if (c === '$' && /[0-9]/.test(next)) nativeDollar = true
      out += c
      i += 1
    }
  }
  if (nativeDollar && slots.length > 0) throw new SyntaxError(`a statement mixes PostgreSQL's $n with SQLite placeholders: ${sql}`)
  return { text: out, slots }
}

/**
 * The values in `$n` order from what better-sqlite3's run/get/all take:
 * anonymous values, optionally followed by (or only) one object of named ones.
 */
export function bindSlots(statement: TranslatedStatement, args: readonly unknown[]): unknown[] {
  const last = args.at(-1)
  const named = last !== null && typeof last === 'object' && !Array.isArray(last) && !Buffer.isBuffer(last) && !(last instanceof Uint8Array) ? (last as Record<string, unknown>) : undefined
  const anonymous = (named === undefined ? args : args.slice(0, -1)).flat()
  const wantedAnonymous = statement.slots.filter((slot) => slot.kind === 'positional').length
  if (anonymous.length !== wantedAnonymous) throw new RangeError(`the statement takes ${wantedAnonymous} anonymous parameters, ${anonymous.length} were given`)
  return statement.slots.map((slot) => {
    if (slot.kind === 'positional') return anonymous[slot.index]
    if (named === undefined || !Object.hasOwn(named, slot.name)) throw new RangeError(`missing named parameter ${slot.name}`)
    return named[slot.name]
  })
}
