// One kiosk in the simulation: the real kiosk (daemon/kiosk.ts on the real
// core) over a real outbox (SQLite in memory, kept across the kiosk's crashes
// as its file would be), on the simulated link, with a reader that the plan
// taps. A crash kills the process: its timers, its link, the operation in
// progress; the restart builds a new kiosk on the same outbox, as the daemon
// does after a power cut. The kiosk's clock is the simulated clock plus its
// own offset, which the plan may skew or make jump.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { EventEmitter } from 'node:events'
import pino from 'pino'
import { publicKeyToBase64Url, type Clock, type KioskConfig } from '../../device-protocol/index.js'
import { createKiosk, KioskError, type Kiosk, type Outcome, type SaleLine } from '../../daemon/kiosk.js'
import { createOutbox, type Outbox, type OutboxEntry } from '../../daemon/outbox.js'
import type { Reader, ReaderFeedback, ReaderStatus, TagInfo } from '../../daemon/reader/reader.js'
import { createSimLink, type SimLink } from './link.js'
import type { SimNetwork } from './network.js'
import type { Prng } from './prng.js'
import { createOwner, type Owner, type SimScheduler } from './scheduler.js'

const silent = pino({ level: 'silent' })

/** What the reader does around the guest's tap. */
export interface TapNoise {
  /** A wristband pulled away mid-read first: a garbled UID the kiosk must ignore. */
  garbledFirst?: boolean
  /** The guest taps twice: the second read comes when nobody waits for it. */
  repeatTap?: boolean
  /** The guest never taps (tap timeout). */
  walkAway?: boolean
}

export type Operation =
  | { kind: 'sale'; uid: string; lines: SaleLine[]; noise: TapNoise }
  | { kind: 'topup'; uid: string; amount: number; noise: TapNoise }

/** What an operation ended with, as the cashier saw it. */
export interface Shown {
  kiosk: string
  operation: Operation
  /** An outcome, or the refusal's type. */
  outcome?: Outcome
  refused?: string
}

/** A reader the simulation taps: the tap comes a human moment after the kiosk starts waiting for one. */
class SimReader extends EventEmitter implements Reader {
  readonly kind = 'memory' as const
  next: { uid: string; noise: TapNoise } | undefined
  constructor(onWait: (reader: SimReader) => void) {
    super()
    this.on('newListener', (event: string | symbol) => {
      if (event === 'tag') onWait(this)
    })
  }
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async feedback(_feedback: ReaderFeedback): Promise<void> {}
  status(): ReaderStatus {
    return { kind: 'memory', connected: true, counters: {} }
  }
  tap(tag: TagInfo | { uid: string; type: string }): void {
    this.emit('tag', tag)
  }
}

/** An Ed25519 private key from 32 seed bytes (PKCS#8 DER), so a seed gives the same keys every run. */
export function ed25519FromSeed(seed: Buffer): KeyObject {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex')
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' })
}

export const publicKeyOf = (privateKey: KeyObject): string => publicKeyToBase64Url(createPublicKey(privateKey))

export interface SimKioskOptions {
  id: string
  /** Distinguishes this kiosk's ids from the others'. */
  index: number
  privateKey: KeyObject
  config: KioskConfig
  scheduler: SimScheduler
  network: SimNetwork
  random: Prng
  /** Called with every envelope the outbox stores (new, and signed again on another seq). */
  onStored(entry: OutboxEntry): void
  onShown(shown: Shown): void
}

export interface SimKiosk {
  readonly id: string
  readonly outbox: Outbox
  /** The running kiosk, undefined while crashed. */
  readonly kiosk: Kiosk | undefined
  readonly clockOffsetMs: number
  start(): void
  crash(downMs: number): void
  shiftClock(deltaMs: number): void
  /** Starts an operation; false when the kiosk is down or busy (the cashier waits). */
  begin(operation: Operation): boolean
  /** Operations started and not ended (a crash abandons them). */
  inProgress(): number
  close(): void
}

export function createSimKiosk(options: SimKioskOptions): SimKiosk {
  const { id, scheduler, network, random, config } = options
  let offsetMs = 0
  const clock: Clock = { now: () => scheduler.now + offsetMs }
  let idCounter = 0
  /** Deterministic UUIDs (version 7 layout): kiosk index and a counter that survives crashes, as time would. */
  const newId = () => {
    idCounter += 1
    const hex = (options.index * 0x1_0000_0000 + idCounter).toString(16).padStart(12, '0')
    return `00000000-0000-7000-8000-${hex}`
  }
  const raw = createOutbox({ path: ':memory:', maxEntries: 50, clock, kioskId: id })
  // The same outbox, telling the simulation of every envelope it stores (a spy; the methods close over nothing else).
  const outbox: Outbox = {
    ...raw,
    append(build, within) {
      const entry = raw.append(build, within)
      options.onStored(entry)
      return entry
    },
    requeue(entryId, resign) {
      const entry = raw.requeue(entryId, resign)
      if (entry) options.onStored(entry)
      return entry
    },
    rebase(gateway, resign) {
      const result = raw.rebase(gateway, resign)
      for (const moved of result.resigned) {
        const entry = raw.get(moved.id)
        if (entry) options.onStored(entry)
      }
      return result
    },
  }

  let owner: Owner | undefined
  let generation = 0
  let link: SimLink | undefined
  let kiosk: Kiosk | undefined
  let running = 0
  let pendingTap: { uid: string; noise: TapNoise } | undefined

  function onWait(reader: SimReader): void {
    const tap = pendingTap
    const mine = owner
    if (!tap || !mine) return
    pendingTap = undefined
    if (tap.noise.walkAway) return
    const delay = random.between(150, 2_500)
    if (tap.noise.garbledFirst) scheduler.at(delay - 100, `garbled tap ${id}`, () => reader.tap({ uid: 'ZZ', type: 'ntag215' }), mine)
    scheduler.at(delay, `tap ${id}`, () => reader.tap({ uid: tap.uid, type: 'ntag215' }), mine)
    if (tap.noise.repeatTap) scheduler.at(delay + random.between(20, 400), `tap again ${id}`, () => reader.tap({ uid: tap.uid, type: 'ntag215' }), mine)
  }

  function start(): void {
    const mine = createOwner(`kiosk ${id}#${generation++}`)
    owner = mine
    const reader = new SimReader(onWait)
    link = createSimLink({ kioskId: id, outbox, network, owner: mine, random: random.fork(`link ${generation}`) })
    const created = scheduler.within(mine, () =>
      createKiosk({
        kioskId: id,
        reader,
        outbox,
        link: link!,
        privateKey: options.privateKey,
        clock,
        logger: silent,
        catalog: { current: () => config },
        replyTimeoutMs: 5_000,
        tapTimeoutMs: 10_000,
        newId,
      }),
    )
    kiosk = created
    scheduler.within(mine, () => link!.start())
  }

  return {
    id,
    outbox,
    get kiosk() {
      return kiosk
    },
    get clockOffsetMs() {
      return offsetMs
    },
    start,
    crash(downMs) {
      if (!owner || !kiosk) return
      owner.dead = true
      link?.kill()
      kiosk = undefined
      link = undefined
      owner = undefined
      running = 0
      pendingTap = undefined
      scheduler.at(downMs, `kiosk ${id} restart`, start)
    },
    shiftClock(deltaMs) {
      offsetMs += deltaMs
    },
    begin(operation) {
      const current = kiosk
      const mine = owner
      if (!current || !mine || current.isBusy()) return false
      pendingTap = { uid: operation.uid, noise: operation.noise }
      running += 1
      const done = (shown: Omit<Shown, 'kiosk' | 'operation'>) => {
        if (mine.dead) return
        running -= 1
        options.onShown({ kiosk: id, operation, ...shown })
      }
      scheduler.within(mine, () => {
        const started = operation.kind === 'sale' ? current.sale(operation.lines) : current.topUp(operation.amount)
        started.then(
          (outcome) => done({ outcome }),
          (err: unknown) => done({ refused: err instanceof KioskError ? err.type : `error: ${(err as Error)?.message ?? String(err)}` }),
        )
      })
      return true
    },
    inProgress: () => running,
    close() {
      if (owner) owner.dead = true
      link?.kill()
      raw.close()
    },
  }
}
