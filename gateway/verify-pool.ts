// Ed25519 signature checks in batches on worker threads. Checking each sale with
// its own crypto.verify call on libuv's thread pool cost the gateway's main
// thread about 11 µs a check (the job, two Buffer copies, a callback) plus the
// promises around it; handing a thread a whole batch costs one message each
// way. The checks themselves are node:crypto's, the same as before.
//
// The threads run plain JavaScript (`new Worker(source, { eval: true, execArgv: [] })`):
// a thread that loaded the TypeScript loader would take seconds to start.
// A thread that dies fails the batches it held (the caller checks those another
// way) and is started again for the next batch.
//
// Each thread keeps the kiosk keys it was sent, by a number; a key's encoded
// form is made from the KeyObject when a thread lacks it, not kept here. A
// thread holds at most `maxKeysPerThread` keys: past that, the next batch tells
// it to forget them all and sends again the keys that batch needs, so keys the
// registry has replaced (re-enrolment, its cache forgotten) do not pile up.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { KeyObject } from 'node:crypto'

export interface SignatureCheck {
  /** The kiosk's Ed25519 public key. */
  key: KeyObject
  /** The signed text (RFC 8785 of the transaction), checked as its UTF-8 bytes. */
  text: string
  /** The signature, base64. */
  sig: string
}

export interface VerifyPool {
  /** One answer per check, in order: true when the signature verifies. Rejects when a thread failed. */
  verify(checks: readonly SignatureCheck[]): Promise<boolean[]>
  /** Threads running now (started on first use). */
  readonly threads: number
  close(): Promise<void>
}

/**
 * Batches larger than this are split across the threads (with more than one), so that a big batch is checked
 * in parallel. Each part costs a message each way and a wake-up of a thread: smaller batches go whole.
 */
const SPLIT_ABOVE = 64

/** A fleet has a few hundred kiosks; a thread holding more keys than this forgets them all (see above). */
const MAX_KEYS_PER_THREAD = 1024

interface Request {
  id: number
  /** Set: drop every key held before taking `keys` (the thread held too many). */
  forget: boolean
  /** [key id, SPKI DER] of keys this thread has not been sent yet. */
  keys: Array<[number, Uint8Array]>
  keyIds: Int32Array
  texts: string[]
  sigs: string[]
}

interface Reply {
  id: number
  /** 1 verifies, 0 does not. */
  ok: Uint8Array
}

/** The thread: keeps the keys it was sent, checks each batch in order, answers with one byte per check. */
function verifyThread(): void {
  const { createPublicKey, verify } = require('node:crypto') as typeof import('node:crypto')
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads')
  const keys = new Map<number, KeyObject>()
  parentPort!.on('message', (request: Request) => {
    if (request.forget) keys.clear()
    for (const [id, der] of request.keys) keys.set(id, createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }))
    const ok = new Uint8Array(request.texts.length)
    for (let i = 0; i < ok.length; i++) {
      try {
        ok[i] = verify(null, Buffer.from(request.texts[i]!, 'utf8'), keys.get(request.keyIds[i]!)!, Buffer.from(request.sigs[i]!, 'base64')) ? 1 : 0
      } catch {
        ok[i] = 0
      }
    }
    parentPort!.postMessage({ id: request.id, ok } satisfies Reply, [ok.buffer])
  })
}

const THREAD_SOURCE = `(${verifyThread.toString()})()`

/**
 * One fewer than the cores (the main thread has the other), at least one, at most four. On two cores that is
 * one thread: a second one only split batches into more messages (measured: the same main-thread CPU per sale,
 * more for the whole process), while one thread checks far more signatures per second than the main thread books.
 */
export function defaultVerifyThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1))
}

interface Thread {
  worker: Worker
  /** Key ids this thread holds. */
  keys: Set<number>
  pending: Map<number, { resolve(ok: Uint8Array): void; reject(err: Error): void }>
}

export interface VerifyPoolOptions {
  threads?: number
  /** What the threads run; tests give one that fails. */
  threadSource?: string
  /** Keys a thread holds before it is told to forget them (MAX_KEYS_PER_THREAD). */
  maxKeysPerThread?: number
}

export function createVerifyPool(options: VerifyPoolOptions = {}): VerifyPool & { /** The most keys any running thread holds now. */ readonly keysHeld: number } {
  const size = Math.max(1, Math.floor(options.threads ?? defaultVerifyThreads()))
  const maxKeys = Math.max(1, Math.floor(options.maxKeysPerThread ?? MAX_KEYS_PER_THREAD))
  const threads: Array<Thread | undefined> = new Array(size).fill(undefined)
  // Weak: a key the registry no longer holds is forgotten here too.
  const keyIds = new WeakMap<KeyObject, number>()
  let nextKeyId = 1
  let nextRequestId = 1
  let turn = 0
  let closed = false

  function keyIdOf(key: KeyObject): number {
    let id = keyIds.get(key)
    if (id === undefined) {
      id = nextKeyId++
      keyIds.set(key, id)
    }
    return id
  }

  function start(slot: number): Thread {
    const worker = new Worker(options.threadSource ?? THREAD_SOURCE, { eval: true, execArgv: [] })
    // Idle threads never keep the process alive; one with checks to answer does (see send).
    worker.unref()
    const thread: Thread = { worker, keys: new Set(), pending: new Map() }
    const fail = (err: Error) => {
      if (threads[slot] === thread) threads[slot] = undefined
      for (const { reject } of thread.pending.values()) reject(err)
      thread.pending.clear()
    }
    worker.on('message', (reply: Reply) => {
      const waiter = thread.pending.get(reply.id)
      if (waiter === undefined) return
      thread.pending.delete(reply.id)
      if (thread.pending.size === 0) worker.unref()
      waiter.resolve(reply.ok)
    })
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`signature check thread exited (code ${code})`)))
    threads[slot] = thread
    return thread
  }

  function send(checks: readonly SignatureCheck[], from: number, to: number): Promise<Uint8Array> {
    const slot = turn++ % size
    const thread = threads[slot] ?? start(slot)
    const count = to - from
    const forget = thread.keys.size >= maxKeys
    if (forget) thread.keys.clear()
    const request: Request = { id: nextRequestId++, forget, keys: [], keyIds: new Int32Array(count), texts: new Array(count), sigs: new Array(count) }
    for (let i = 0; i < count; i++) {
      const check = checks[from + i]!
      const keyId = keyIdOf(check.key)
      if (!thread.keys.has(keyId)) {
        request.keys.push([keyId, new Uint8Array(check.key.export({ format: 'der', type: 'spki' }))])
        thread.keys.add(keyId)
      }
      request.keyIds[i] = keyId
      request.texts[i] = check.text
      request.sigs[i] = check.sig
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref()
      thread.pending.set(request.id, { resolve, reject })
      thread.worker.postMessage(request)
    })
  }

  return {
    async verify(checks) {
      if (closed) throw new Error('signature check pool is closed')
      if (checks.length === 0) return []
      const parts = checks.length > SPLIT_ABOVE ? size : 1
      const per = Math.ceil(checks.length / parts)
      const answers: Array<Promise<Uint8Array>> = []
      for (let from = 0; from < checks.length; from += per) answers.push(send(checks, from, Math.min(checks.length, from + per)))
      const result: boolean[] = new Array(checks.length)
      let i = 0
      for (const ok of await Promise.all(answers)) for (const byte of ok) result[i++] = byte === 1
      return result
    },
    get threads() {
      return threads.filter((t) => t !== undefined).length
    },
    get keysHeld() {
      return Math.max(0, ...threads.map((t) => t?.keys.size ?? 0))
    },
    async close() {
      closed = true
      await Promise.all(threads.map((t) => t?.worker.terminate()))
    },
  }
}

let shared: VerifyPool | undefined
/** The process's one pool, started on first use: every ingest of the process shares its threads. */
export function sharedVerifyPool(): VerifyPool {
  shared ??= createVerifyPool()
  return shared
}
