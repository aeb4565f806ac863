// One synchronous PostgreSQL connection, as the ledger store needs it.
//
// The LedgerStore interface (ledger/store.ts) is synchronous: the core reads
// the store while it decides, inside one batch, as better-sqlite3 allows. On
// PostgreSQL we keep that shape with pg-native, node-postgres's synchronous
// libpq binding: a call blocks this process until the server answers. So that
// a dead or unreachable database fails a batch instead of hanging the gateway,
// every wait is bounded: connect_timeout for connecting, TCP keepalives and
// tcp_user_timeout for a peer that vanished mid-query, statement_timeout for a
// server that is there but does not finish (a lock held by another session).
//
// pg-native is an optional dependency (its build needs libpq's headers): it is
// loaded only when a PostgreSQL store is asked for, so an install without it
// still runs on SQLite.
import { createRequire } from 'node:module'

/** What a query parameter may be; numbers must be safe integers (money is integer cents). */
export type PgParam = string | number | boolean | null | Buffer

/** The part of pg-native's Client this module uses. */
interface NativeClient {
  connectSync(conninfo: string): void
  querySync(text: string, params?: Array<string | null>): Array<Record<string, unknown>>
  prepareSync(name: string, text: string, nParams: number): void
  executeSync(name: string, params: Array<string | null>): Array<Record<string, unknown>>
  end(): void
  /** 'I' idle, 'T' in a transaction, 'E' in a failed transaction; null: the connection is gone (libpq's UNKNOWN) or busy. */
  getTransactionStatus(): 'I' | 'T' | 'E' | null
  /** The libpq handle: the fields of the last result's error (its SQLSTATE), which pg-native's synchronous calls leave out of the Error they throw. */
  pq?: { resultErrorFields(): Record<string, string> | null | undefined; cmdTuples(): string }
}

type NativeClientClass = new (config: { types: { getTypeParser(oid: number): (text: string) => unknown } }) => NativeClient

/**
 * The SQLSTATE of an error a statement got from the server ('40P01' a
 * deadlock, '23505' a unique key taken, ...); undefined for other errors.
 */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** The database cannot be reached, or the connection broke: nothing of the current batch was written. */
export class PgUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PgUnavailableError'
  }
}

export const PG_NATIVE_MISSING =
  'the PostgreSQL store needs the optional package pg-native, which did not install (its build needs libpq): install libpq-dev (Debian: apt-get install libpq-dev), then run npm install again'

let nativeClientClass: NativeClientClass | undefined

/** pg-native's Client, loaded on first use; a clear error when it is not installed. */
function loadPgNative(): NativeClientClass {
  nativeClientClass ??= pgNativeFrom(() => createRequire(import.meta.url)('pg-native'))
  return nativeClientClass
}

/** What `load` gives, as pg-native's Client; PG_NATIVE_MISSING (with the loader's reason) when it throws. Exported for its test. */
export function pgNativeFrom(load: () => unknown): NativeClientClass {
  try {
    return load() as NativeClientClass
  } catch (error) {
    throw new Error(`${PG_NATIVE_MISSING} (${firstLine(error)})`, { cause: error })
  }
}

const OID = { int2: 21, int4: 23, int8: 20, numeric: 1700, bool: 16, bytea: 17, float4: 700, float8: 701 } as const

/** A whole number from PostgreSQL's text form, refused unless JavaScript holds it exactly. */
export function safeIntegerOf(text: string): number {
  const value = Number(text)
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) throw new RangeError(`PostgreSQL returned ${text}, which is not a safe integer`)
  return value
}

/**
 * libpq answers in text; int8 (bigint, COUNT) and numeric (SUM of bigint)
 * would stay strings. Every integer becomes a number only after the check, so
 * a balance beyond 2^53 cents is an error, never a rounded amount.
 */
const TYPES = {
  getTypeParser(oid: number): (text: string) => unknown {
    switch (oid) {
      case OID.int2:
      case OID.int4:
      case OID.int8:
      case OID.numeric:
        return safeIntegerOf
      case OID.bool:
        return (text: string) => text === 't'
      case OID.float4:
      case OID.float8:
        // Not money (that is bigint cents): a provider's score, for instance.
        return Number
      case OID.bytea:
        // The server's hex output form (bytea_output = hex, its default): \x0a1b...
        return (text: string) => Buffer.from(text.slice(2), 'hex')
      default:
        return (text: string) => text
    }
  },
}

function paramText(value: PgParam): string | null {
  if (value === null) return null
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`query parameter ${value} is not a safe integer`)
    return String(value)
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`
  return value
}

export interface PgConnectionOptions {
  /** postgres://user:password@host:port/database (libpq's URI form; its query parameters are kept). */
  url: string
  /** libpq connect_timeout, whole seconds (libpq takes at least 2). Default 5. */
  connectTimeoutSeconds?: number
  /** Longest a statement may run on the server, lock waits included. Default 10 000 ms. */
  statementTimeoutMs?: number
  /** Longest sent data may stay unacknowledged before the connection is dropped (tcp_user_timeout). Default 10 000 ms. */
  tcpUserTimeoutMs?: number
  /** Idle seconds before the first keepalive probe; probes every 2 s, 3 missed ones drop the connection. Default 5. */
  keepalivesIdleSeconds?: number
  /** The server ends a session left idle inside a transaction for this long (a frozen gateway releases its locks). Default 30 000 ms. */
  idleInTransactionTimeoutMs?: number
}

/** The URL with the timeouts added as libpq parameters (those the URL names already are kept). */
export function conninfoOf(options: PgConnectionOptions): string {
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    throw new Error('the PostgreSQL store wants a URL such as postgres://user:password@host:5432/database')
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error(`the PostgreSQL store wants a postgres:// URL, not ${url.protocol}//`)
  const defaults: Record<string, string> = {
    connect_timeout: String(options.connectTimeoutSeconds ?? 5),
    tcp_user_timeout: String(options.tcpUserTimeoutMs ?? 10_000),
    keepalives: '1',
    keepalives_idle: String(options.keepalivesIdleSeconds ?? 5),
    keepalives_interval: '2',
    keepalives_count: '3',
    application_name: 'wristpay-gateway',
  }
  // Appended to the URL as written: URLSearchParams would write the whole query again form-encoded (a space as
  // '+'), which libpq does not decode, so `options=-c%20statement_timeout%3D5000` would reach it as '-c+...'.
  const missing = Object.entries(defaults)
    .filter(([key]) => !url.searchParams.has(key))
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
  if (missing.length === 0) return options.url
  const hashAt = options.url.indexOf('#')
  const [base, hash] = hashAt < 0 ? [options.url, ''] : [options.url.slice(0, hashAt), options.url.slice(hashAt)]
  const joiner = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&'
  return `${base}${joiner}${missing.join('&')}${hash}`
}

/** The URL without its password, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return `${parsed.protocol}//${parsed.username === '' ? '' : `${parsed.username}${parsed.password === '' ? '' : `:${parsed.password}`}@`}${parsed.host}${parsed.pathname}`
  } catch {
    return '(not a URL)'
  }
}

export interface PgConnection {
  /** Runs one statement (several when without parameters), connecting first if needed. */
  query<R = Record<string, unknown>>(text: string, params?: readonly PgParam[]): R[]
  /** Runs a named statement, prepared on this connection on first use (and again after a reconnect). */
  run<R = Record<string, unknown>>(name: string, text: string, params?: readonly PgParam[]): R[]
  /** Whether the server still holds the connection (false after it broke; the next query reconnects). */
  readonly connected: boolean
  /** Counts the connections made: a different number means a new connection (and a lost transaction). */
  readonly generation: number
  /** 'I' idle, 'T' in a transaction, 'E' in a transaction a failed statement aborted; null without a connection. */
  transactionStatus(): 'I' | 'T' | 'E' | null
  /** The rows the last statement inserted, updated or deleted (0 for statements that change none). */
  lastRowCount(): number
  /** Drops the connection (the next query makes a new one). */
  drop(): void
  close(): void
}

/**
 * A connection that reconnects on the next query after it broke: a batch that
 * met a dead server throws, and the next batch, once the server is back, runs.
 */
export function openPgConnection(options: PgConnectionOptions): PgConnection {
  const Client = loadPgNative()
  const conninfo = conninfoOf(options)
  const where = redactedUrl(options.url)
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000
  const idleInTransactionTimeoutMs = options.idleInTransactionTimeoutMs ?? 30_000
  let client: NativeClient | undefined
  let prepared = new Set<string>()
  let closed = false
  let generation = 0

  function connect(): NativeClient {
    if (closed) throw new Error(`the connection to ${where} is closed`)
    if (client !== undefined) return client
    const fresh = new Client({ types: TYPES })
    try {
      // A failed connectSync has closed its libpq handle already (closing it again aborts the process).
      fresh.connectSync(conninfo)
    } catch (error) {
      throw new PgUnavailableError(`PostgreSQL at ${where} is unreachable: ${firstLine(error)}`, { cause: error })
    }
    try {
      fresh.querySync(
        `SET statement_timeout = ${Math.trunc(statementTimeoutMs)}; SET idle_in_transaction_session_timeout = ${Math.trunc(idleInTransactionTimeoutMs)}; SET TIME ZONE 'UTC'; SET client_min_messages = warning`,
      )
    } catch (error) {
      fresh.end()
      throw new PgUnavailableError(`PostgreSQL at ${where} is unreachable: ${firstLine(error)}`, { cause: error })
    }
    client = fresh
    prepared = new Set()
    generation += 1
    return fresh
  }

  /** After an error: a connection libpq no longer knows the state of is dropped, and the error says so; a server's error carries its SQLSTATE as `code`. */
  function failed(error: unknown): never {
    const sqlState = client?.pq?.resultErrorFields()?.sqlState
    if (sqlState !== undefined && error instanceof Error && !('code' in error)) Object.assign(error, { code: sqlState })
    if (client !== undefined && client.getTransactionStatus() === null) {
      drop()
      throw new PgUnavailableError(`the connection to PostgreSQL at ${where} broke: ${firstLine(error)}`, { cause: error })
    }
    throw error
  }

  function drop(): void {
    const old = client
    client = undefined
    prepared = new Set()
    if (old === undefined) return
    try {
      old.end()
    } catch {
      // A broken connection may refuse a clean goodbye; it is gone either way.
    }
    keepUntilClosed(old)
  }

  return {
    query<R>(text: string, params?: readonly PgParam[]): R[] {
      const c = connect()
      try {
        return (params === undefined ? c.querySync(text) : c.querySync(text, params.map(paramText))) as R[]
      } catch (error) {
        return failed(error)
      }
    },
    run<R>(name: string, text: string, params: readonly PgParam[] = []): R[] {
      const c = connect()
      try {
        if (!prepared.has(name)) {
          c.prepareSync(name, text, params.length)
          prepared.add(name)
        }
        return c.executeSync(name, params.map(paramText)) as R[]
      } catch (error) {
        return failed(error)
      }
    },
    get connected() {
      return client !== undefined && client.getTransactionStatus() !== null
    },
    get generation() {
      return generation
    },
    transactionStatus: () => client?.getTransactionStatus() ?? null,
    lastRowCount: () => {
      const tuples = client?.pq?.cmdTuples() ?? ''
      return tuples === '' ? 0 : safeIntegerOf(tuples)
    },
    drop,
    close() {
      drop()
      closed = true
    },
  }
}

/**
 * libpq's binding closes its socket watcher (a libuv handle inside the native
 * object) asynchronously, on the event loop's next turn; if the garbage
 * collector freed the object before that, the process would abort in libuv.
 * So an ended client is held until the loop has turned.
 */
const ending = new Set<NativeClient>()
function keepUntilClosed(client: NativeClient): void {
  ending.add(client)
  setTimeout(() => ending.delete(client), 1_000).unref()
}

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).trim().split('\n')[0] ?? ''
