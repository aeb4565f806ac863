// The demo's simulated tills run in the gateway's process: a refused ticket
// sale or cash-out (the kiosk refuses at once, during the guest's tap delay)
// must be counted, never become an unhandled rejection that ends the process.
import t from 'tap'
import { pino } from 'pino'
import type { KioskDaemon } from '../../daemon/app.js'
import { KioskError, type Outcome } from '../../daemon/kiosk.js'
import type { SimulatedReader } from './demo-readers.js'
import { atCounter, runTill, type TillContext, type TillRuntime } from './demo-tills.js'

/** Every unhandled rejection while `body` runs (Node would otherwise end the process on the first). */
async function unhandledRejectionsDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = []
  const onUnhandled = (reason: unknown) => void seen.push(reason)
  process.on('unhandledRejection', onUnhandled)
  try {
    await body()
    // Unhandled rejections are reported after the microtask queue drains: give them a turn.
    await new Promise((done) => setImmediate(done))
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
  return seen
}

function context(stopAfterOperations = Infinity): TillContext & { operations: number } {
  const ctx = {
    guests: [{ uid: '04A1B2C3D4E5F6', knownBalance: 5_000, cups: 0 }],
    freshWristbands: ['04010203040506'],
    recorded: [],
    refusals: {} as Record<string, number>,
    errors: [] as string[],
    logger: pino({ level: 'silent' }),
    operations: 0,
    isStopping: () => ctx.operations >= stopAfterOperations,
  }
  return ctx
}

/** A cash till whose kiosk refuses every ticket sale, cash-out and top-up at once, before any tap. */
function refusingCashTill(ctx: { operations: number }, refusal: string): TillRuntime & { taps: string[] } {
  const taps: string[] = []
  const refuse = async (): Promise<Outcome> => {
    ctx.operations += 1
    throw new KioskError(refusal as never, `refused: ${refusal}`)
  }
  const kiosk = {
    login: async () => ({ status: 'accepted' }),
    shift: () => ({ register: 'drawer-cashdesk-1', openedAt: 0 }),
    sellTicket: refuse,
    cashOut: refuse,
    topUp: refuse,
  }
  const presenter = { present: (uid: string) => void taps.push(uid), remove: () => undefined }
  return {
    spec: { id: 'cashdesk-1', role: 'cashdesk', token: 'x', staffUid: '04FFFFFFFFFFFF', register: 'drawer-cashdesk-1' },
    daemon: { kiosk, status: () => ({ config: {} }) } as unknown as KioskDaemon,
    simulatedReader: { kind: 'serial', presenter } as unknown as SimulatedReader,
    taps,
  }
}

t.test('a ticket sale and a cash-out refused during the tap delay are counted refusals, not unhandled rejections', async (t) => {
  const ctx = context()
  const till = refusingCashTill(ctx, 'gateway_unreachable')
  let outcomes: Array<Outcome | undefined> = []
  const unhandled = await unhandledRejectionsDuring(async () => {
    outcomes = [
      await atCounter(till, ctx, () => till.daemon.kiosk.sellTicket({ lines: [{ product: 'day-ticket', qty: 1 }], topup: 0 }), ctx.freshWristbands[0]),
      await atCounter(till, ctx, () => till.daemon.kiosk.cashOut(), ctx.guests[0]!.uid),
    ]
  })
  t.same(unhandled, [], 'no unhandled rejection')
  t.same(outcomes, [undefined, undefined], 'neither operation has an outcome')
  t.same(ctx.refusals, { gateway_unreachable: 2 }, 'both refusals counted')
  t.same(ctx.errors, [])
  t.same(till.taps, [], 'nobody taps a kiosk that already refused')
})

t.test('a refusal that is not an everyday one is counted as a demo error, still not fatal', async (t) => {
  const ctx = context()
  const till = refusingCashTill(ctx, 'no_open_shift')
  const unhandled = await unhandledRejectionsDuring(async () => {
    await atCounter(till, ctx, () => till.daemon.kiosk.cashOut(), ctx.guests[0]!.uid)
  })
  t.same(unhandled, [])
  t.same(ctx.refusals, {})
  t.same(ctx.errors, ['cashdesk-1: refused: no_open_shift'])
})

t.test('a whole cash till shift whose every operation is refused before the tap runs to its end', async (t) => {
  const ctx = context(6)
  const till = refusingCashTill(ctx, 'gateway_unreachable')
  const unhandled = await unhandledRejectionsDuring(() => runTill(till, ctx))
  t.same(unhandled, [])
  t.equal(ctx.refusals.gateway_unreachable, 6, 'every refused operation counted')
  t.same(ctx.errors, [])
})

t.test('a till that throws outside an operation stops alone with an error counted', async (t) => {
  const ctx = context()
  const till = refusingCashTill(ctx, 'gateway_unreachable')
  ;(till.daemon as { status: () => unknown }).status = () => {
    throw new Error('status broke')
  }
  const unhandled = await unhandledRejectionsDuring(() => runTill(till, ctx))
  t.same(unhandled, [])
  t.same(ctx.errors, ['cashdesk-1: status broke'])
})
