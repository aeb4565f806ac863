// Arbitraries that damage valid input the way lines, disks and attackers do:
// bit flips, bytes overwritten, truncation, insertion, deletion, a splice of two
// samples, a stretch repeated; streams of good frames and noise; chunkings of a
// stream. Each is a fast-check arbitrary, so a failing case shrinks.
import fc from 'fast-check'

type ByteOp =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'splice'; at: number; other: number; from: number }
  | { op: 'repeat'; at: number; length: number }

const position = fc.nat({ max: 1 << 20 })

function byteOp(sampleCount: number): fc.Arbitrary<ByteOp> {
  return fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
    fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x06, 0x10, 0x15, 0x7f, 0x80, 0xfe, 0xff), fc.nat({ max: 255 })) }),
    fc.record({ op: fc.constant('truncate' as const), at: position }),
    fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ op: fc.constant('splice' as const), at: position, other: fc.nat({ max: Math.max(0, sampleCount - 1) }), from: position }),
    fc.record({ op: fc.constant('repeat' as const), at: position, length: fc.integer({ min: 1, max: 32 }) }),
  )
}

function applyOp(bytes: Buffer, op: ByteOp, samples: readonly Uint8Array[]): Buffer {
  const n = bytes.length
  const at = n === 0 ? 0 : op.at % (n + 1)
  switch (op.op) {
    case 'flip': {
      if (n === 0) return bytes
      const copy = Buffer.from(bytes)
      copy[op.at % n]! ^= 1 << op.bit
      return copy
    }
    case 'set': {
      if (n === 0) return bytes
      const copy = Buffer.from(bytes)
      copy[op.at % n] = op.value
      return copy
    }
    case 'truncate':
      return bytes.subarray(0, at)
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), op.bytes, bytes.subarray(at)])
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + op.length)])
    case 'splice': {
      const other = samples[op.other % samples.length]!
      return Buffer.concat([bytes.subarray(0, at), other.subarray(op.from % (other.length + 1))])
    }
    case 'repeat':
      return Buffer.concat([bytes.subarray(0, at + op.length), bytes.subarray(at)])
  }
}

/** A sample with one to four mutations applied. */
export function mutatedBytes(samples: readonly Uint8Array[], maxOps = 4): fc.Arbitrary<Buffer> {
  return fc
    .record({ base: fc.nat({ max: samples.length - 1 }), ops: fc.array(byteOp(samples.length), { minLength: 1, maxLength: maxOps }) })
    .map(({ base, ops }) => ops.reduce<Buffer>((bytes, op) => applyOp(bytes, op, samples), Buffer.from(samples[base]!)))
}

/** A piece of a byte stream; `intact` marks a sample fed unchanged (an oracle may expect it to be found). */
export interface Segment {
  bytes: Buffer
  intact?: number
}

/** Streams of intact samples, mutated samples and noise, in any order. */
export function byteStream(
  samples: readonly Uint8Array[],
  options: {
    maxSegments?: number
    maxNoiseBytes?: number
    noise?: fc.Arbitrary<Uint8Array>
    /** How an intact sample goes into the stream (default: once, unchanged). */
    intactBytes?: (sample: Uint8Array) => Buffer
  } = {},
): fc.Arbitrary<Segment[]> {
  const noise = options.noise ?? fc.uint8Array({ maxLength: options.maxNoiseBytes ?? 300 })
  const intactBytes = options.intactBytes ?? ((sample: Uint8Array) => Buffer.from(sample))
  const segment: fc.Arbitrary<Segment> = fc.oneof(
    fc.nat({ max: samples.length - 1 }).map((i) => ({ bytes: intactBytes(samples[i]!), intact: i })),
    mutatedBytes(samples).map((bytes) => ({ bytes })),
    noise.map((bytes) => ({ bytes: Buffer.from(bytes) })),
  )
  return fc.array(segment, { minLength: 1, maxLength: options.maxSegments ?? 8 })
}

/** The stream cut into chunks at the given points (as a reader's serial port delivers it). */
export function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let from = 0
  for (const p of points) {
    chunks.push(bytes.subarray(from, p))
    from = p
  }
  chunks.push(bytes.subarray(from))
  return chunks
}

/** Cut points for chunked(). */
export const cutPoints = fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 12 })

/** Strings that break parsers: empty, signs, huge and odd numbers, impossible dates, markup, separators, control characters, long runs. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '-',
  '+',
  '0',
  '-0',
  '00',
  '.',
  ',',
  '1e309',
  '-1e309',
  'NaN',
  'Infinity',
  '9007199254740993',
  '99999999999999999999999.99',
  '0.001',
  '1,234.56',
  '1.234,56',
  '2026-02-30',
  '2026-13-01',
  '0000-00-00',
  '999999',
  '<',
  '>',
  '&',
  '&amp;',
  '&#0;',
  '&xxe;',
  ']]>',
  '<![CDATA[x]]>',
  '<!--',
  ':20:',
  ':61:',
  ':86:',
  '?20',
  '\r\n',
  '\n',
  '\r',
  '\t',
  '"',
  "'",
  ';',
  '\u0000',
  '\u202e',
  '\uFEFF',
  '\uD800',
  '😀',
  '__proto__',
  'constructor',
  'x'.repeat(5000),
  '9'.repeat(400),
  '<a>'.repeat(2000),
  '['.repeat(20_000) + ']'.repeat(20_000),
  '{"a":'.repeat(5000) + '1' + '}'.repeat(5000),
]

export const nastyString: fc.Arbitrary<string> = fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }))

type TextOp = { op: 'replace-token'; index: number; with: string } | { op: 'insert'; at: number; text: string } | { op: 'delete-line'; index: number } | { op: 'repeat-line'; index: number; times: number }

const TOKEN = /[A-Za-z]+|[0-9]+(?:[.,][0-9]+)?|[^A-Za-z0-9\s]/g

function applyTextOp(text: string, op: TextOp): string {
  switch (op.op) {
    case 'replace-token': {
      const tokens = [...text.matchAll(TOKEN)]
      if (tokens.length === 0) return text + op.with
      const token = tokens[op.index % tokens.length]!
      return text.slice(0, token.index) + op.with + text.slice(token.index + token[0].length)
    }
    case 'insert': {
      const at = op.at % (text.length + 1)
      return text.slice(0, at) + op.text + text.slice(at)
    }
    case 'delete-line': {
      const lines = text.split('\n')
      lines.splice(op.index % lines.length, 1)
      return lines.join('\n')
    }
    case 'repeat-line': {
      const lines = text.split('\n')
      const i = op.index % lines.length
      lines.splice(i, 0, ...Array<string>(op.times).fill(lines[i]!))
      return lines.join('\n')
    }
  }
}

const textOp: fc.Arbitrary<TextOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace-token' as const), index: fc.nat({ max: 1 << 16 }), with: nastyString }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat({ max: 1 << 20 }), text: nastyString }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete-line' as const), index: fc.nat({ max: 1 << 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat-line' as const), index: fc.nat({ max: 1 << 16 }), times: fc.integer({ min: 1, max: 200 }) }) },
)

/** A sample text with one to five token, insertion and line mutations. */
export function mutatedText(samples: readonly string[], maxOps = 5): fc.Arbitrary<string> {
  return fc
    .record({ base: fc.nat({ max: samples.length - 1 }), ops: fc.array(textOp, { minLength: 1, maxLength: maxOps }) })
    .map(({ base, ops }) => ops.reduce(applyTextOp, samples[base]!))
}

// ---- JSON values --------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Values of the wrong type, size or depth for wherever they land. */
export const oddJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 0.5, -0.01, 1e308, -1e308, 2 ** 53 + 2, -(2 ** 31), 2 ** 32, '', [], {}, [null], { '': null }),
  nastyString,
  fc.string({ maxLength: 4 }).map((s) => s.repeat(20_000)),
  // Deep, but not so deep that JSON.stringify of a mutated sample runs out of stack (text mutations go deeper).
  fc.integer({ min: 1, max: 1000 }).map((depth) => nested(depth)),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
)

/** An array nested `depth` deep (JSON parsers and validators recurse). */
export function nested(depth: number): Json {
  let value: Json = 1
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

/** Keys that pollute prototypes when copied carelessly, and other odd ones. */
export const ODD_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', '$ref', '\u0000', 'a'.repeat(300)]

type JsonOp = { op: 'replace'; path: number; value: Json } | { op: 'delete'; path: number } | { op: 'add-key'; path: number; key: string; value: Json } | { op: 'repeat'; path: number; times: number }

const jsonOp: fc.Arbitrary<JsonOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('replace' as const), path: fc.nat(), value: oddJson }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), path: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add-key' as const), path: fc.nat(), key: fc.oneof(fc.constantFrom(...ODD_KEYS), fc.string({ maxLength: 8 })), value: oddJson }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat' as const), path: fc.nat(), times: fc.integer({ min: 2, max: 3000 }) }) },
)

/** Every container and leaf of a value with its parent: what a mutation can reach. */
function places(root: Json): Array<{ parent: Json[] | { [key: string]: Json } | null; key: string | number; value: Json }> {
  const found: Array<{ parent: Json[] | { [key: string]: Json } | null; key: string | number; value: Json }> = [{ parent: null, key: '', value: root }]
  for (let i = 0; i < found.length && found.length < 5000; i++) {
    const { value } = found[i]!
    if (Array.isArray(value)) value.forEach((v, k) => found.push({ parent: value, key: k, value: v }))
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) found.push({ parent: value, key: k, value: v })
  }
  return found
}

/** Sets an own property, even `__proto__`, the way JSON.parse would. */
function setOwn(target: { [key: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** A copy through JSON text: unlike structuredClone it cannot exhaust the native stack (a RangeError at worst). */
function copyJson(value: Json): Json {
  return JSON.parse(JSON.stringify(value)) as Json
}

/** Largest JSON text a repeat may produce, so that repeats of repeats cannot fill the heap. */
const MAX_REPEAT_CHARS = 2_000_000

function applyJsonOp(root: Json, op: JsonOp): Json {
  const all = places(root)
  const place = all[op.path % all.length]!
  const { parent, key, value } = place
  const put = (next: Json): Json => {
    if (parent === null) return next
    if (Array.isArray(parent)) parent[key as number] = next
    else setOwn(parent, key as string, next)
    return root
  }
  switch (op.op) {
    case 'replace':
      return put(copyJson(op.value))
    case 'delete':
      if (parent === null) return root
      if (Array.isArray(parent)) parent.splice(key as number, 1)
      else delete parent[key as string]
      return root
    case 'add-key':
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        setOwn(value, op.key, copyJson(op.value))
        return root
      }
      if (Array.isArray(value)) {
        value.push(copyJson(op.value))
        return root
      }
      return put({ [op.key]: copyJson(op.value) })
    case 'repeat': {
      // The copies share their elements: the text grows, the heap does not.
      const chars = Math.max(1, JSON.stringify(value)?.length ?? 1)
      const times = Math.max(1, Math.min(op.times, Math.floor(MAX_REPEAT_CHARS / chars)))
      if (Array.isArray(value) && value.length > 0) return put(Array.from({ length: times }, (_, i) => value[i % value.length]!))
      return put(Array.from({ length: Math.min(times, 50) }, () => value))
    }
  }
}

/** Mutations of a JSON value not known yet (built at run time): apply them with applyJsonMutations. */
export type JsonMutations = readonly JsonOp[]
export function jsonMutations(maxOps = 4): fc.Arbitrary<JsonMutations> {
  return fc.array(jsonOp, { minLength: 1, maxLength: maxOps })
}

/** A deep copy of `value` with the mutations applied. */
export function applyJsonMutations(value: Json, ops: JsonMutations): Json {
  return ops.reduce((root, op) => {
    try {
      return applyJsonOp(root, op)
    } catch (err) {
      // Nesting too deep to copy or measure: this mutation is left out.
      if (err instanceof RangeError) return root
      throw err
    }
  }, copyJson(value))
}

/** A deep copy of one of the samples with one to four mutations. */
export function mutatedJson(samples: readonly Json[], maxOps = 4): fc.Arbitrary<Json> {
  return fc.record({ base: fc.nat({ max: samples.length - 1 }), ops: jsonMutations(maxOps) }).map(({ base, ops }) => applyJsonMutations(samples[base]!, ops))
}
