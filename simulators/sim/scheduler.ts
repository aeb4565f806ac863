// The simulation's one clock and one queue. Every timer, message delivery and
// fault is an event ordered by (simulated time, sequence number); run()
// takes the next one, moves the clock to it and runs it, then lets the
// promises it started settle before the next. Nothing waits for real time.
//
// The kiosk core, its chain guard and ingest use the global setTimeout and
// setImmediate, not an injected timer (they take only a Clock). So code that
// runs inside the simulation runs in an AsyncLocalStorage context, and while
// that context is there the global timer functions schedule simulated events
// instead of real ones; outside it (tap, anything else in the process) they
// are the real functions. Each event belongs to an owner (a kiosk process, the
// gateway, the broker): killing the owner drops its pending timers and any it
// would start later, which is what a crash does to a process's timers.
import { AsyncLocalStorage } from 'node:async_hooks'

export interface Owner {
  readonly name: string
  dead: boolean
}

interface SimEvent {
  at: number
  seq: number
  label: string
  owner: Owner | undefined
  run: () => void
  cancelled: boolean
}

interface Context {
  scheduler: SimScheduler
  owner: Owner | undefined
}

const context = new AsyncLocalStorage<Context>()

const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
}

/** What the simulated setTimeout returns: enough of Node's Timeout for the code that holds one. */
class SimTimer {
  constructor(
    readonly scheduler: SimScheduler,
    public event: SimEvent | undefined,
    readonly repeatMs?: number,
  ) {}
  ref(): this {
    return this
  }
  unref(): this {
    return this
  }
  hasRef(): boolean {
    return true
  }
  refresh(): this {
    return this
  }
  close(): this {
    this.scheduler.cancel(this)
    return this
  }
  [Symbol.toPrimitive](): number {
    return this.event?.seq ?? -1
  }
}

let installed = false

/** Replaces the global timer functions with ones that ask the context first (idempotent). */
function installTimers(): void {
  if (installed) return
  installed = true
  const g = globalThis as unknown as Record<string, unknown>
  g.setTimeout = function (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) {
    const ctx = context.getStore()
    if (!ctx) return (real.setTimeout as (...a: unknown[]) => unknown)(fn, ms, ...args)
    return ctx.scheduler.timer(ctx.owner, Math.max(1, Math.floor(Number(ms) || 0)), 'timer', () => fn(...args))
  }
  g.setInterval = function (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) {
    const ctx = context.getStore()
    if (!ctx) return (real.setInterval as (...a: unknown[]) => unknown)(fn, ms, ...args)
    return ctx.scheduler.interval(ctx.owner, Math.max(1, Math.floor(Number(ms) || 0)), () => fn(...args))
  }
  g.setImmediate = function (fn: (...args: unknown[]) => void, ...args: unknown[]) {
    const ctx = context.getStore()
    if (!ctx) return (real.setImmediate as (...a: unknown[]) => unknown)(fn, ...args)
    return ctx.scheduler.timer(ctx.owner, 0, 'immediate', () => fn(...args))
  }
  const clear = (realClear: (handle: never) => void) =>
    function (handle: unknown) {
      if (handle instanceof SimTimer) handle.scheduler.cancel(handle)
      else if (handle !== undefined && handle !== null) realClear(handle as never)
    }
  g.clearTimeout = clear(real.clearTimeout)
  g.clearInterval = clear(real.clearInterval)
  g.clearImmediate = clear(real.clearImmediate)
}

/** One turn of the real event loop: every promise the last event started has settled after it. */
const settle = (): Promise<void> => new Promise((resolve) => real.setImmediate(resolve))

export class SimScheduler {
  now: number
  private readonly heap: SimEvent[] = []
  private seq = 0
  /** Events run so far. */
  ran = 0

  constructor(startMs: number) {
    this.now = startMs
    installTimers()
  }

  /** Runs `fn` as `owner`: timers it starts (and those of the promises it starts) are simulated and belong to `owner`. */
  within<T>(owner: Owner | undefined, fn: () => T): T {
    return context.run({ scheduler: this, owner }, fn)
  }

  /** Schedules `run` at now + delayMs for `owner` (dropped if the owner is or becomes dead). */
  at(delayMs: number, label: string, run: () => void, owner?: Owner): SimEvent | undefined {
    if (owner?.dead) return undefined
    const event: SimEvent = { at: this.now + Math.max(0, delayMs), seq: this.seq++, label, owner, run, cancelled: false }
    this.push(event)
    return event
  }

  timer(owner: Owner | undefined, delayMs: number, label: string, run: () => void): SimTimer {
    return new SimTimer(this, this.at(delayMs, label, run, owner))
  }

  interval(owner: Owner | undefined, everyMs: number, run: () => void): SimTimer {
    const handle = new SimTimer(this, undefined, everyMs)
    const tick = () => {
      handle.event = this.at(everyMs, 'interval', tick, owner)
      run()
    }
    handle.event = this.at(everyMs, 'interval', tick, owner)
    return handle
  }

  cancel(handle: SimTimer | SimEvent | undefined): void {
    if (handle === undefined) return
    const event = handle instanceof SimTimer ? handle.event : handle
    if (event) event.cancelled = true
  }

  /** Whether any live event is due at or before `untilMs`. */
  hasEventBy(untilMs: number): boolean {
    this.dropDead()
    const head = this.heap[0]
    return head !== undefined && head.at <= untilMs
  }

  /** Runs the next live event (if due by untilMs) and lets what it started settle. Returns false when there was none. */
  async step(untilMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.dropDead()
    const head = this.heap[0]
    if (head === undefined || head.at > untilMs) return false
    this.pop()
    this.now = Math.max(this.now, head.at)
    this.ran += 1
    context.run({ scheduler: this, owner: head.owner }, head.run)
    await settle()
    return true
  }

  /** Lets the promises started by an action from outside (a plan step) settle before the next event runs. */
  settle(): Promise<void> {
    return settle()
  }

  /** Runs every event due by untilMs, then moves the clock to untilMs. */
  async runUntil(untilMs: number): Promise<void> {
    while (await this.step(untilMs)) {
      /* next */
    }
    this.now = Math.max(this.now, untilMs)
  }

  private dropDead(): void {
    while (this.heap.length > 0) {
      const head = this.heap[0]!
      if (!head.cancelled && !head.owner?.dead) return
      this.pop()
    }
  }

  private less(a: SimEvent, b: SimEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push(event: SimEvent): void {
    const h = this.heap
    h.push(event)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}

export function createOwner(name: string): Owner {
  return { name, dead: false }
}
