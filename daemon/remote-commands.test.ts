import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { MAX_COMMAND_LIFETIME_MS, MAX_COMMAND_PAYLOAD_BYTES, topics, validateCommandAnswer, type CommandAnswer, type KioskCommand, type KioskState } from '../device-protocol/index.js'
import { loadConfig } from './config.js'
import { createKioskDaemon } from './app.js'
import { createRemoteCommandStore } from './remote-command-store.js'
import { createRemoteCommands, type RemoteCommandsDeps } from './remote-commands.js'
import { startTestBroker } from './testing/broker.js'
import { startObserver } from './testing/observer.js'
import { waitUntil } from './testing/wait.js'

const logger = pino({ level: 'silent' })
const KIOSK = 'bar-1'
let next = 0
const newId = () => `0190a3f1-0000-7000-8000-${String(++next).padStart(12, '0')}`

function openDb(path: string): Database.Database {
  const db = new Database(path)
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
  return db
}

function world(t: Test, path = ':memory:') {
  let now = 1_000_000
  let published: KioskState | null = { kiosk: KIOSK, status: 'online', at: now, bdSeq: 2, outboxDepth: 0 }
  const answers: CommandAnswer[] = []
  const calls: string[] = []
  const db = openDb(path)
  t.teardown(() => db.close())
  const deps: RemoteCommandsDeps = {
    kioskId: KIOSK,
    clock: { now: () => now },
    logger,
    store: createRemoteCommandStore(db),
    publishAnswer: (answer) => (answers.push(answer), true),
    reportState: () => (calls.push('state'), published),
    reloadConfig: async () => (calls.push('reload'), 'config version 3 applied'),
    changed: () => void calls.push('changed'),
  }
  const commands = createRemoteCommands(deps)
  const command = (name: KioskCommand['command'], over: Partial<KioskCommand> = {}): KioskCommand => ({ v: 1, id: newId(), kiosk: KIOSK, command: name, by: 'root', issuedAt: now, expiresAt: now + 10_000, ...over })
  const send = (value: unknown) => commands.handle(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)))
  return { commands, answers, calls, command, send, advance: (ms: number) => (now += ms), now: () => now, publishes: (state: KioskState | null) => (published = state) }
}

t.test('lock, unlock, report_state and reload_config run and answer with the command id', async (t) => {
  const w = world(t)
  const lock = w.command('lock', { reason: 'cash count' })
  await w.send(lock)
  t.match(w.answers.at(-1), { v: 1, id: lock.id, kiosk: KIOSK, command: 'lock', status: 'done', locked: true })
  t.match(w.commands.lock(), { by: 'root', reason: 'cash count', commandId: lock.id })
  t.ok(w.calls.includes('changed'), 'the state and the screen hear of it')
  const unlock = w.command('unlock')
  await w.send(unlock)
  t.match(w.answers.at(-1), { id: unlock.id, status: 'done', locked: false, message: 'unlocked' })
  t.equal(w.commands.lock(), null)
  const report = w.command('report_state')
  await w.send(report)
  t.match(w.answers.at(-1), { id: report.id, status: 'done' })
  const reload = w.command('reload_config')
  await w.send(reload)
  t.match(w.answers.at(-1), { id: reload.id, status: 'done', message: 'config version 3 applied' })
  t.same(w.calls.filter((c) => c !== 'changed'), ['state', 'reload'])
})

t.test('report_state answers with the state it just published, kept within the answer size the sender accepts', async (t) => {
  const w = world(t)
  const state: KioskState = { kiosk: KIOSK, status: 'online', at: w.now(), bdSeq: 4, configVersion: 7, outboxDepth: 3, lock: { by: 'root', at: w.now() }, counters: { sales: 12 } }
  w.publishes(state)
  const report = w.command('report_state')
  await w.send(report)
  t.same(w.answers.at(-1)?.state, state, 'the answer carries the published state')
  t.ok(validateCommandAnswer(w.answers.at(-1)).ok)

  // Counters are the one unbounded part of a state: too many and they are left out of the answer, the rest stays.
  const counters = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`counter-${i}`, i]))
  w.publishes({ ...state, counters })
  const big = w.command('report_state')
  await w.send(big)
  const answer = w.answers.at(-1)!
  t.match(answer, { id: big.id, status: 'done', state: { kiosk: KIOSK, bdSeq: 4, configVersion: 7, outboxDepth: 3, lock: { by: 'root' } } })
  t.notOk(answer.state && 'counters' in answer.state, 'without its counters')
  t.ok(Buffer.byteLength(JSON.stringify(answer)) <= MAX_COMMAND_PAYLOAD_BYTES, 'within the sender\'s payload limit')
  t.ok(validateCommandAnswer(answer).ok)

  w.publishes(null)
  const offline = w.command('report_state')
  await w.send(offline)
  t.notOk('state' in w.answers.at(-1)!, 'no state when none went out')
  for (const name of ['lock', 'unlock', 'reload_config'] as const) {
    await w.send(w.command(name))
    t.notOk('state' in w.answers.at(-1)!, `${name} answers without a state`)
  }
})

t.test('a command is never run twice: a repeat answers duplicate with the first answer, also after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-cmd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'outbox.sqlite')
  const first = world(t, path)
  const lock = first.command('lock')
  await first.send(lock)
  await first.send(first.command('unlock'))
  await first.send(lock)
  t.match(first.answers.at(-1), { id: lock.id, status: 'duplicate', locked: false, first: { status: 'done', message: 'locked' } })
  t.equal(first.commands.lock(), null, 'the repeat did not lock again')
  t.equal(first.commands.counters().commandsDuplicate, 1)

  // A new process on the same database: the lock state and the ids survive.
  const second = world(t, path)
  await second.send(lock)
  t.match(second.answers.at(-1), { id: lock.id, status: 'duplicate' })
  t.equal(second.commands.lock(), null)
  const lockAgain = second.command('lock', { reason: 'stays' })
  await second.send(lockAgain)
  const third = world(t, path)
  t.match(third.commands.lock(), { reason: 'stays' }, 'a lock survives a restart')
})

t.test('an expired command is not run; ids are forgotten only after the longest lifetime past their expiry', async (t) => {
  const w = world(t)
  const late = w.command('lock', { issuedAt: w.now() - 20_000, expiresAt: w.now() - 1 })
  await w.send(late)
  t.match(w.answers.at(-1), { id: late.id, status: 'expired', locked: false })
  t.equal(w.commands.lock(), null)

  const lock = w.command('lock', { expiresAt: w.now() + 5_000 })
  await w.send(lock)
  await w.send(w.command('unlock'))
  w.advance(5_000 + MAX_COMMAND_LIFETIME_MS - 1)
  await w.send(lock)
  t.match(w.answers.at(-1), { id: lock.id, status: 'duplicate' }, 'still remembered')
  w.advance(10)
  await w.send(lock)
  t.match(w.answers.at(-1), { id: lock.id, status: 'expired' }, 'forgotten, and by then long expired: still not run')
  t.equal(w.commands.lock(), null)

  const tooLong = w.command('lock', { expiresAt: w.now() + MAX_COMMAND_LIFETIME_MS + 1 })
  await w.send(tooLong)
  t.match(w.answers.at(-1), { id: tooLong.id, status: 'refused', message: /at most/ })
  t.equal(w.commands.lock(), null)
})

t.test('malformed, oversized and misaddressed commands are refused without a crash and change nothing', async (t) => {
  const w = world(t)
  await w.send('{not json')
  await w.send(Buffer.alloc(64 * 1024, 0x20).toString())
  await w.send({ hello: 'world' })
  t.equal(w.answers.length, 0, 'nobody to answer without a usable id')
  t.equal(w.commands.counters().commandsMalformed, 3)

  const huge = w.command('lock', { reason: 'x'.repeat(20_000) })
  await w.send(huge)
  const unknown = { ...w.command('lock'), command: 'self_destruct' }
  await w.send(unknown)
  t.match(w.answers.at(-1), { id: unknown.id, status: 'refused', message: /invalid command/ })
  const extra = { ...w.command('lock'), shell: 'rm -rf /' }
  await w.send(extra)
  t.match(w.answers.at(-1), { id: extra.id, status: 'refused' })
  const other = w.command('lock', { kiosk: 'bar-2' })
  await w.send(other)
  t.match(w.answers.at(-1), { id: other.id, kiosk: KIOSK, status: 'refused', message: /for kiosk bar-2/ })
  t.equal(w.commands.lock(), null, 'none of them locked the kiosk')

  const fine = w.command('lock')
  await w.send(fine)
  t.match(w.answers.at(-1), { id: fine.id, status: 'done' }, 'the next valid command still runs')
})

t.test('over MQTT: the daemon answers on its cmd/answer topic, survives garbage and stays locked across a restart', async (t) => {
  const credentials = { [KIOSK]: 'kiosk-token', gateway: 'gateway-secret' }
  const broker = await startTestBroker(credentials)
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-cmd-daemon-'))
  const config = { ...loadConfig({ env: {}, overrides: { kioskId: KIOSK, token: credentials[KIOSK], dataDir: dir, mqttUrl: broker.url, reader: 'memory', apiPort: 0 } }), reconnectInitialDelayMs: 10, reconnectMaxDelayMs: 100 }
  const clock = { now: () => Date.now() }
  let daemon = await createKioskDaemon({ config, logger, clock })
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskCmdAnswer(KIOSK))
  const states = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  const gateway = await mqtt.connectAsync(broker.url, { username: 'gateway', password: credentials.gateway, reconnectPeriod: 0 })
  t.teardown(async () => {
    await gateway.endAsync(true)
    await observer.stop()
    await states.stop()
    await daemon.stop()
    await broker.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await daemon.start()
  await waitUntil(() => daemon.status().connected, 'the kiosk connected', 1000, 10)
  const answers = () => observer.json(topics.kioskCmdAnswer(KIOSK)) as CommandAnswer[]
  const command = (name: KioskCommand['command'], over: Partial<KioskCommand> = {}): KioskCommand => ({ v: 1, id: newId(), kiosk: KIOSK, command: name, by: 'root', issuedAt: Date.now(), expiresAt: Date.now() + 60_000, ...over })

  await gateway.publishAsync(topics.kioskCmd(KIOSK), 'not json at all', { qos: 1 })
  await gateway.publishAsync(topics.kioskCmd(KIOSK), JSON.stringify(command('lock', { reason: 'y'.repeat(40_000) })), { qos: 1 })
  const misaddressed = command('lock', { kiosk: 'bar-2' })
  await gateway.publishAsync(topics.kioskCmd(KIOSK), JSON.stringify(misaddressed), { qos: 1 })
  const lock = command('lock', { reason: 'audit' })
  await gateway.publishAsync(topics.kioskCmd(KIOSK), JSON.stringify(lock), { qos: 1 })
  await waitUntil(() => answers().some((a) => a.id === lock.id), 'the answer to the lock', 1000, 10)
  t.match(answers().find((a) => a.id === misaddressed.id), { status: 'refused' })
  t.match(answers().find((a) => a.id === lock.id), { status: 'done', locked: true })
  t.equal(answers().length, 2, 'garbage and oversized commands get no answer')
  t.match(daemon.status().lock, { by: 'root', reason: 'audit', message: /locked by operator root \(audit\)/ })
  // Operators see it in the state message (the fleet view).
  const lockedState = () => (states.json(topics.kioskState(KIOSK)) as KioskState[]).some((s) => s.lock?.by === 'root' && s.lock.reason === 'audit')
  await waitUntil(lockedState, 'a state message with the lock', 1000, 10)

  await daemon.stop()
  daemon = await createKioskDaemon({ config, logger, clock })
  await daemon.start()
  t.match(daemon.status().lock, { by: 'root', reason: 'audit' }, 'still locked after a restart')
  await t.rejects(daemon.kiosk.sale([{ product: 'fries', qty: 1 }]), { name: 'KioskError', type: 'locked' })
  // The touchscreen's local API answers the refusal as 423 with the lock's message.
  const sale = await fetch(`http://127.0.0.1:${daemon.apiAddress()!.port}/sale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lines: [{ product: 'fries', qty: 1 }] }) })
  t.equal(sale.status, 423)
  t.match(await sale.json(), { type: 'locked', message: /locked by operator root \(audit\)/ })
  await waitUntil(() => daemon.status().connected, 'the kiosk connected again', 1000, 10)
  const report = command('report_state')
  await gateway.publishAsync(topics.kioskCmd(KIOSK), JSON.stringify(report), { qos: 1 })
  await waitUntil(() => answers().some((a) => a.id === report.id), 'the answer to report_state', 1000, 10)
  t.match(answers().find((a) => a.id === report.id), { status: 'done', locked: true })
  // The answer carries the state the kiosk just published on its state topic (retained: the observer saw it too).
  const reported = answers().find((a) => a.id === report.id)!.state
  t.match(reported, { kiosk: KIOSK, status: 'online', lock: { by: 'root', reason: 'audit' } })
  const publishedAsReported = () => (states.json(topics.kioskState(KIOSK)) as KioskState[]).some((s) => isDeepStrictEqual(s, reported))
  await waitUntil(publishedAsReported, 'the reported state, as it is, on the state topic', 1000, 10)
  t.ok(publishedAsReported(), 'the same state as published')
})
