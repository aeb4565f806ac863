// The chaos run: the real gateway and real kiosk daemons, each in its own
// process, a fault proxy between every kiosk and the gateway's broker, and a
// seeded schedule of faults: SIGKILL of the gateway (the broker is embedded,
// so this is a broker restart too) and of kiosks, and network faults on the
// proxies. Cashiers keep selling throughout. At the end everything heals, the
// kiosks empty their outboxes, and the gateway's ledger is compared with what
// the kiosks said:
//
//   lost     a transaction a kiosk showed (accepted, pending or offline) that
//            the ledger lacks, or one it showed accepted that the ledger did not accept
//   doubled  an id booked twice, or one operation booked under two ids (every
//            operation's amount is its own, so two bookings of one amount are a double)
//
// The seed fixes the fault schedule (which fault, when, where); the processes'
// own timing is the machine's, so a run is not replayed step by step.
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import Database from 'better-sqlite3'
import { loadOrCreateKeys } from '../../daemon/keys.js'
import { DB_FILE_NAME } from '../../gateway/app.js'
import { auditLedgerDatabase } from '../../gateway/audit/audit.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { exited, freePort } from '../../gateway/testing/gateway-process.js'
// The fault schedule comes from a seeded generator, so a seed names one run.
import { seededRandom } from '../seeded-random.js'
import { compileForChaos } from './compile.js'
import { startFaultProxy, type FaultMode, type FaultProxy } from './fault-proxy.js'
import { CHAOS_PRODUCT } from './kiosk-protocol.js'
import { compiledRunner, DIED, startGatewayChild, startKioskProcess, tsNodeRunner, type KioskProcess, type Runner } from './processes.js'

export interface ChaosOptions {
  /** How long the cashiers sell while faults happen (the run takes longer: starts, restarts and the drain). */
  minutes: number
  /** SIGKILLs of the gateway. */
  gatewayKills: number
  /** SIGKILLs of kiosks (of one chosen at random each time). */
  kioskKills: number
  kiosks: number
  /** Network faults on the proxies (delay, slow, half-open, blackhole, cut); default: twice the kills, at least 4. */
  proxyFaults?: number
  seed: number
  /** How long the kiosks get to empty their outboxes once everything healed. */
  drainTimeoutMs?: number
  /** Progress lines (to stderr in the command). */
  log?: (line: string) => void
  /** Start the children through ts-node instead of from a transpiled copy (slower: every start transpiles again). */
  tsNode?: boolean
  /** Keep the temp folder (ledger, outboxes) for a post-mortem; default: keep it only when something was lost or doubled. */
  keepDir?: boolean
}

export interface ChaosSummary {
  seed: number
  minutes: number
  kiosks: number
  durationMs: number
  operations: { total: number; accepted: number; rejected: number; pending: number; offline: number; refused: number; unanswered: number; refusals: Record<string, number>; rejections: Record<string, number> }
  kills: { gateway: number; kiosk: number }
  proxyFaults: Record<string, number>
  clockOffsetsMs: number[]
  /** Operations a kiosk did not answer within a minute (the kiosk was restarted). */
  hungOperations: number
  lost: number
  doubled: number
  /** Answers a kiosk holds that differ from the ledger's (late answers to pending ones included). */
  disagreeing: number
  /** Every outbox empty at the end. */
  drained: boolean
  ledgerBalanced: boolean
  auditFindings: string[]
  longestTimeWithoutAnswersMs: number
  ledgerTransactions: number
  /** Examples of what was lost or doubled, for the report. */
  examples: string[]
  /** Where the ledger and outboxes are, when kept. */
  dir?: string
}

type Fault =
  | { atMs: number; kind: 'kill-gateway'; downMs: number }
  | { atMs: number; kind: 'kill-kiosk'; kiosk: number }
  | { atMs: number; kind: 'proxy'; kiosk: number; mode: FaultMode; durationMs: number }
  | { atMs: number; kind: 'cut'; kiosk: number }

/** The fault schedule of a run: a pure function of its options, so a seed names one. */
export function faultSchedule(options: Pick<ChaosOptions, 'minutes' | 'gatewayKills' | 'kioskKills' | 'kiosks' | 'proxyFaults' | 'seed'>): Fault[] {
  const random = seededRandom(options.seed)
  const durationMs = options.minutes * 60_000
  const at = () => Math.round(durationMs * (0.05 + 0.85 * random()))
  const pick = (n: number) => Math.floor(random() * n)
  const faults: Fault[] = []
  for (let i = 0; i < options.gatewayKills; i++) faults.push({ atMs: at(), kind: 'kill-gateway', downMs: pick(3_000) })
  for (let i = 0; i < options.kioskKills; i++) faults.push({ atMs: at(), kind: 'kill-kiosk', kiosk: pick(options.kiosks) })
  const proxyFaults = options.proxyFaults ?? Math.max(4, 2 * (options.gatewayKills + options.kioskKills))
  for (let i = 0; i < proxyFaults; i++) {
    const kiosk = pick(options.kiosks)
    const durationMs = 500 + pick(8_000)
    const kind = pick(5)
    if (kind === 4) {
      faults.push({ atMs: at(), kind: 'cut', kiosk })
      continue
    }
    const mode: FaultMode =
      kind === 0
        ? { kind: 'delay', ms: 20 + pick(1_500) }
        : kind === 1
          ? { kind: 'slow', bytesPerSecond: 500 + pick(20_000) }
          : kind === 2
            ? { kind: 'half-open', direction: random() < 0.5 ? 'to-target' : 'to-client' }
            : { kind: 'blackhole' }
    faults.push({ atMs: at(), kind: 'proxy', kiosk, mode, durationMs })
  }
  return faults.sort((a, b) => a.atMs - b.atMs)
}

/** Clock offsets of the kiosks: the first runs 2 minutes fast, the second 10 minutes slow, the rest true. */
export function clockOffsets(kiosks: number): number[] {
  return Array.from({ length: kiosks }, (_, i) => (i === 0 ? 120_000 : i === 1 ? -600_000 : 0))
}

interface Operation {
  n: number
  kiosk: number
  kind: 'topup' | 'sale'
  amount: number
  /** What the kiosk said; undefined: it died (or hung) before it said anything. */
  status?: 'accepted' | 'rejected' | 'pending' | 'offline'
  id?: string
  refused?: string
  reason?: string
}

const GUESTS = Array.from({ length: 8 }, (_, i) => `04C4A05000${String(i + 1).padStart(4, '0')}`)
/** Top-ups carry 100 € plus the operation's number in cents; sales the number itself: every operation's amount is its own. */
const TOPUP_BASE_CENTS = 10_000
/** A kiosk answers within its reply timeout; a request hanging far longer is given up (and counted unanswered). */
const REQUEST_GIVE_UP_MS = 60_000
const REPLY_TIMEOUT_MS = 3_000
const START_ATTEMPTS = 3

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const log = options.log ?? (() => {})
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-chaos-'))
  const random = seededRandom(options.seed ^ 0x5eed)
  const faults = faultSchedule(options)
  const offsets = clockOffsets(options.kiosks)
  const [mqttPort, httpPort] = [await freePort(), await freePort()]
  const kioskIds = Array.from({ length: options.kiosks }, (_, i) => `chaos-${i + 1}`)
  const tokens = kioskIds.map(() => randomBytes(24).toString('base64url'))
  const dataDirs = kioskIds.map((id) => join(dir, id))
  const publicKeys = dataDirs.map((dataDir) => {
    mkdirSync(dataDir, { mode: 0o700 })
    return loadOrCreateKeys({ dataDir }).publicKeyBase64Url
  })
  const setup: EventSetup = {
    event: { name: 'chaos', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: CHAOS_PRODUCT, name: 'Anything', price: 0, booth: 'bar', fixedPrice: false }],
    kiosks: kioskIds.map((id, i) => ({ id, booth: 'bar', token: tokens[i]!, publicKey: publicKeys[i]!, saleAllowed: true, topupAllowed: true })),
    wristbands: GUESTS.map((uid, i) => ({ uid, pin: `CHAXPASS${'ABCDEFGH'[i]}` })),
    // Caps far above what a run sells: a refusal for a cap would hide nothing, but would not test anything either.
    offline: { allowed: true, perTagCapCents: 10_000_000, kioskTotalCapCents: 1_000_000_000, capWindowMs: 60_000 },
  }
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(setup), { mode: 0o600 })
  const gatewayArgs = ['--event', eventFile, '--data-dir', join(dir, 'gateway'), '--mqtt-port', String(mqttPort), '--http-port', String(httpPort)]
  const gatewayEnv = { WRISTPAY_GATEWAY_LOG_LEVEL: 'info' }

  const proxies: FaultProxy[] = []
  const kiosks: Array<KioskProcess | undefined> = kioskIds.map(() => undefined)
  let gateway: ChildProcess | undefined
  const healTimers = new Set<NodeJS.Timeout>()
  const ops: Operation[] = []
  const answerTimes: number[] = []
  const upIntervals: Array<{ from: number; to?: number }> = []
  const kills = { gateway: 0, kiosk: 0 }
  const proxyCounts: Record<string, number> = {}
  let stopping = false
  let nextN = 1
  let hung = 0

  const runner: Runner = options.tsNode ? tsNodeRunner : compiledRunner(join(dir, 'build'))
  const kioskOptions = (i: number) => ({
    kioskId: kioskIds[i]!,
    token: tokens[i]!,
    mqttUrl: `mqtt://127.0.0.1:${proxies[i]!.port}`,
    dataDir: dataDirs[i]!,
    clockOffsetMs: offsets[i]!,
    replyTimeoutMs: REPLY_TIMEOUT_MS,
  })
  const startGateway = async () => {
    // On a loaded machine a start may take over startGatewayProcess's minute: try again, a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        gateway = await startGatewayChild(runner, gatewayArgs, gatewayEnv)
        break
      } catch (err) {
        if (attempt >= START_ATTEMPTS) throw err
        log(`${elapsed()} the gateway did not start (${(err as Error).message.split('\n')[0]}); trying again`)
      }
    }
    upIntervals.push({ from: Date.now() })
  }
  const killGateway = async () => {
    if (!gateway) return
    gateway.kill('SIGKILL')
    await exited(gateway)
    gateway = undefined
    const open = upIntervals.at(-1)
    if (open && open.to === undefined) open.to = Date.now()
  }

  async function cashier(i: number): Promise<void> {
    for (let count = 0; !stopping; count++) {
      const kiosk = kiosks[i]
      if (!kiosk || !kiosk.alive()) {
        await sleep(100)
        continue
      }
      const n = nextN++
      const kind = count < 2 || random() < 0.35 ? 'topup' : 'sale'
      const uid = GUESTS[Math.floor(random() * GUESTS.length)]!
      const op: Operation = { n, kiosk: i, kind, amount: kind === 'topup' ? TOPUP_BASE_CENTS + n : n }
      ops.push(op)
      let timer: NodeJS.Timeout | undefined
      const reply = await Promise.race([
        kiosk.request(kind === 'topup' ? { op: 'topup', n, uid, amount: op.amount } : { op: 'sale', n, uid, unitPrice: op.amount }),
        new Promise<'hung'>((done) => (timer = setTimeout(() => done('hung'), REQUEST_GIVE_UP_MS))),
      ])
      clearTimeout(timer)
      if (reply === 'hung') {
        log(`kiosk ${i + 1}: operation ${n} hung; restarting the kiosk`)
        // Its reply would come out of order now: a hung kiosk is killed and started again.
        hung += 1
        await restartKiosk(i).catch((err: Error) => log(`kiosk ${i + 1} did not start again: ${err.message}`))
      } else if (reply !== DIED) {
        if (reply.type === 'outcome') {
          op.status = reply.status
          op.id = reply.id
          if (reply.reason !== undefined) op.reason = reply.reason
          if (reply.status === 'accepted' || reply.status === 'rejected') answerTimes.push(Date.now())
        } else if (reply.type === 'refused') op.refused = reply.error
      }
      await sleep(10 + Math.floor(random() * 100))
    }
  }

  // A kiosk's restart runs beside the schedule (a start takes seconds); a second kill of it waits for the first restart.
  const restarts: Array<Promise<void> | undefined> = kioskIds.map(() => undefined)
  function restartKiosk(i: number): Promise<void> {
    // Registered at once, so that whoever waits for the restarts (the drain) waits for this one too.
    const previous = restarts[i]
    const restart = (async () => {
      await previous?.catch(() => undefined)
      await kiosks[i]?.kill()
      kiosks[i] = undefined
      kiosks[i] = await startKioskProcess(runner, kioskOptions(i))
    })()
    restarts[i] = restart
    return restart
  }

  async function applyFault(fault: Fault): Promise<void> {
    if (fault.kind === 'kill-gateway') {
      log(`${elapsed()} SIGKILL gateway (${kills.gateway + 1}), down ${fault.downMs} ms`)
      await killGateway()
      kills.gateway += 1
      await sleep(fault.downMs)
      await startGateway()
    } else if (fault.kind === 'kill-kiosk') {
      log(`${elapsed()} SIGKILL kiosk ${fault.kiosk + 1} (${kills.kiosk + 1})`)
      kills.kiosk += 1
      // Not awaited: the schedule goes on while the kiosk boots (a failed start fails the run at the drain).
      restartKiosk(fault.kiosk).catch((err: Error) => log(`kiosk ${fault.kiosk + 1} did not start again: ${err.message}`))
    } else if (fault.kind === 'cut') {
      proxyCounts.cut = (proxyCounts.cut ?? 0) + 1
      proxies[fault.kiosk]!.cut()
    } else {
      const name = fault.mode.kind === 'half-open' ? `half-open ${fault.mode.direction}` : fault.mode.kind
      proxyCounts[name] = (proxyCounts[name] ?? 0) + 1
      const proxy = proxies[fault.kiosk]!
      proxy.setMode(fault.mode)
      const timer = setTimeout(() => {
        healTimers.delete(timer)
        proxy.setMode({ kind: 'pass' })
      }, fault.durationMs)
      healTimers.add(timer)
    }
  }
  const elapsed = () => `[${((Date.now() - started) / 1000).toFixed(1)} s]`

  let tornDown = false
  const teardown = async () => {
    if (tornDown) return
    tornDown = true
    stopping = true
    for (const timer of healTimers) clearTimeout(timer)
    await Promise.all(kiosks.map((k) => k?.kill()))
    if (gateway) {
      gateway.kill('SIGTERM')
      const gone = await Promise.race([exited(gateway).then(() => true), sleep(15_000).then(() => false)])
      if (!gone) await killGateway()
      gateway = undefined
    }
    await Promise.all(proxies.map((p) => p.close()))
  }

  // Should this process end before the teardown (an uncaught error, process.exit), the children go with it.
  const killChildren = () => {
    gateway?.kill('SIGKILL')
    for (const kiosk of kiosks) kiosk?.child.kill('SIGKILL')
  }
  process.once('exit', killChildren)

  let summary: ChaosSummary | undefined
  try {
    if (!options.tsNode) {
      const modules = compileForChaos(join(dir, 'build'))
      log(`${elapsed()} transpiled ${modules} modules`)
    }
    for (const _ of kioskIds) proxies.push(await startFaultProxy({ targetPort: mqttPort }))
    log(`${elapsed()} starting the gateway and ${options.kiosks} kiosks in ${dir}`)
    await Promise.all([startGateway(), ...kioskIds.map(async (_, i) => void (kiosks[i] = await startKioskProcess(runner, kioskOptions(i))))])
    const runStart = Date.now()
    log(`${elapsed()} selling; ${faults.length} faults scheduled over ${options.minutes} min`)
    const cashiers = kioskIds.map((_, i) => cashier(i))
    for (const fault of faults) {
      const waitMs = runStart + fault.atMs - Date.now()
      if (waitMs > 0) await sleep(waitMs)
      await applyFault(fault)
    }
    const endWaitMs = runStart + options.minutes * 60_000 - Date.now()
    if (endWaitMs > 0) await sleep(endWaitMs)
    stopping = true
    await Promise.all(cashiers)
    const runEnd = Date.now()
    const intervals = upIntervals.map((u) => ({ from: u.from, to: Math.min(u.to ?? runEnd, runEnd) }))

    // Heal everything and let the kiosks empty their outboxes.
    log(`${elapsed()} healing; draining the outboxes`)
    await Promise.all(restarts.map((r) => r?.catch(() => undefined)))
    for (const timer of healTimers) clearTimeout(timer)
    healTimers.clear()
    for (const proxy of proxies) proxy.setMode({ kind: 'pass' })
    await Promise.all(kiosks.map(async (k, i) => (k?.alive() ? undefined : restartKiosk(i))))
    const drainUntil = Date.now() + (options.drainTimeoutMs ?? 120_000)
    let depths: number[] = []
    while (Date.now() < drainUntil) {
      depths = await Promise.all(kiosks.map(async (k) => {
        if (!k) return -1
        const reply = await k.request({ op: 'status' })
        return reply !== DIED && reply.type === 'status' ? reply.depth : -1
      }))
      if (depths.every((d) => d === 0)) break
      await sleep(500)
    }
    const drained = depths.length > 0 && depths.every((d) => d === 0)
    if (!drained) log(`${elapsed()} outboxes not empty after the drain: ${JSON.stringify(depths)}`)

    // The kiosks' late answers to what they showed pending or offline.
    const lateAnswers = new Map<string, string>()
    for (const [i, kiosk] of kiosks.entries()) {
      const ids = ops.filter((o) => o.kiosk === i && (o.status === 'pending' || o.status === 'offline')).map((o) => o.id!)
      if (!kiosk) continue
      const reply = await kiosk.request({ op: 'answers', ids })
      if (reply !== DIED && reply.type === 'answers') for (const [id, status] of Object.entries(reply.answers)) lateAnswers.set(id, status)
    }
    await teardown()

    summary = judge({ dbPath: join(dir, 'gateway', DB_FILE_NAME), ops, lateAnswers, kioskIds })
    Object.assign(summary, {
      seed: options.seed,
      minutes: options.minutes,
      kiosks: options.kiosks,
      durationMs: Date.now() - started,
      kills,
      proxyFaults: proxyCounts,
      clockOffsetsMs: offsets,
      hungOperations: hung,
      drained,
      longestTimeWithoutAnswersMs: longestSilence(intervals, answerTimes),
    })
    return summary
  } finally {
    await teardown()
    process.off('exit', killChildren)
    const failed = summary === undefined || summary.lost > 0 || summary.doubled > 0 || !summary.ledgerBalanced
    if (options.keepDir ?? failed) {
      if (summary) summary.dir = dir
      log(`ledger and outboxes kept in ${dir}`)
    } else rmSync(dir, { recursive: true, force: true })
  }
}

/** The longest stretch, while the gateway was up, in which no kiosk got an answer. */
export function longestSilence(upIntervals: Array<{ from: number; to: number }>, answerTimes: number[]): number {
  const times = [...answerTimes].sort((a, b) => a - b)
  let longest = 0
  for (const { from, to } of upIntervals) {
    let last = from
    for (const time of times) {
      if (time < from || time > to) continue
      longest = Math.max(longest, time - last)
      last = time
    }
    longest = Math.max(longest, to - last)
  }
  return longest
}

/** Compares the stopped gateway's ledger with what the kiosks said. */
function judge(input: { dbPath: string; ops: Operation[]; lateAnswers: Map<string, string>; kioskIds: string[] }): ChaosSummary {
  const { ops, lateAnswers } = input
  const audit = auditLedgerDatabase({ path: input.dbPath })
  const db = new Database(input.dbPath, { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare('SELECT id, kiosk, type, amount, status FROM transactions').all() as Array<{ id: string; kiosk: string; type: string; amount: number; status: string }>
    const booked = new Map(rows.map((r) => [r.id, r]))
    const examples: string[] = []
    const note = (text: string) => void (examples.length < 20 && examples.push(text))

    let lost = 0
    for (const op of ops) {
      if (op.status === undefined || op.status === 'rejected') continue
      const row = booked.get(op.id!)
      if (!row) {
        lost += 1
        note(`lost: operation ${op.n} (${op.kind} ${op.amount}) at kiosk ${op.kiosk + 1}, shown ${op.status}, id ${op.id}: not in the ledger`)
      } else if ((op.status === 'accepted' || op.status === 'offline') && row.status !== 'accepted') {
        lost += 1
        note(`lost: operation ${op.n} (${op.kind} ${op.amount}) at kiosk ${op.kiosk + 1}, shown ${op.status}, id ${op.id}: ${row.status} in the ledger`)
      }
    }

    let doubled = booked.size === rows.length ? 0 : rows.length - booked.size
    // One operation, one amount: two bookings of one type and amount are one operation booked twice.
    const byAmount = new Map<string, string[]>()
    for (const row of rows) {
      if (row.type !== 'topup_cash' && row.type !== 'sale') continue
      const key = `${row.type}:${row.amount}`
      byAmount.set(key, [...(byAmount.get(key) ?? []), row.id])
    }
    for (const [key, ids] of byAmount) {
      if (ids.length < 2) continue
      doubled += ids.length - 1
      note(`doubled: ${key} booked as ${ids.join(', ')}`)
    }

    let disagreeing = 0
    for (const op of ops) {
      if (op.status === undefined) continue
      const row = booked.get(op.id!)
      const final = op.status === 'pending' || op.status === 'offline' ? lateAnswers.get(op.id!) : op.status
      if (final !== undefined && row && final !== row.status) {
        disagreeing += 1
        note(`disagreeing: operation ${op.n} at kiosk ${op.kiosk + 1}: the kiosk says ${final}, the ledger ${row.status}`)
      }
    }

    // Balances against bookings: the guests hold exactly the accepted top-ups minus the accepted sales.
    const sum = (sql: string) => (db.prepare(sql).get() as { total: number | null }).total ?? 0
    const guestBalances = sum('SELECT SUM(a.balance) AS total FROM wristbands w JOIN accounts a ON a.id = w.account')
    const topUps = sum("SELECT SUM(amount) AS total FROM transactions WHERE status = 'accepted' AND type = 'topup_cash'")
    const sales = sum("SELECT SUM(amount) AS total FROM transactions WHERE status = 'accepted' AND type = 'sale'")
    const allBalances = sum('SELECT SUM(balance) AS total FROM accounts')
    const balancesMatch = guestBalances === topUps - sales
    if (!balancesMatch) note(`balances: the guests hold ${guestBalances} cents, the bookings say ${topUps - sales}`)
    if (allBalances !== 0) note(`balances: all accounts sum to ${allBalances} cents, not 0`)

    const count = (status?: Operation['status']) => ops.filter((o) => o.status === status).length
    const refusals: Record<string, number> = {}
    const rejections: Record<string, number> = {}
    for (const op of ops) if (op.refused) refusals[op.refused] = (refusals[op.refused] ?? 0) + 1
    for (const op of ops) if (op.status === 'rejected') rejections[op.reason ?? '?'] = (rejections[op.reason ?? '?'] ?? 0) + 1
    return {
      seed: 0,
      minutes: 0,
      kiosks: input.kioskIds.length,
      durationMs: 0,
      operations: {
        total: ops.length,
        accepted: count('accepted'),
        rejected: count('rejected'),
        pending: count('pending'),
        offline: count('offline'),
        refused: ops.filter((o) => o.refused !== undefined).length,
        unanswered: ops.filter((o) => o.status === undefined && o.refused === undefined).length,
        refusals,
        rejections,
      },
      kills: { gateway: 0, kiosk: 0 },
      proxyFaults: {},
      clockOffsetsMs: [],
      hungOperations: 0,
      lost,
      doubled,
      disagreeing,
      drained: false,
      ledgerBalanced: audit.findings.length === 0 && balancesMatch && allBalances === 0,
      auditFindings: audit.findings.map((f) => `${f.code}: ${f.message}`),
      longestTimeWithoutAnswersMs: 0,
      ledgerTransactions: rows.length,
      examples,
    }
  } finally {
    db.close()
  }
}

/** Whether a summary passes: nothing lost, nothing doubled, the books balanced and audited clean, every outbox empty. */
export function chaosPassed(summary: ChaosSummary): boolean {
  return summary.lost === 0 && summary.doubled === 0 && summary.ledgerBalanced && summary.auditFindings.length === 0 && summary.drained
}
