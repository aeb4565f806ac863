// Remote commands end to end (README "Remote commands"): the gateway's sender,
// its admin route and an admin operator's MQTT client against a real kiosk
// daemon over loopback sockets. A lock refuses every operation (nothing is
// booked) until an unlock; a command delivered twice runs once; an expired one
// is not run; a kiosk that does not answer is a timeout.
import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { systemClock, topics, validateCommandAnswer, type CommandAnswer, type KioskCommand } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const token = () => randomBytes(24).toString('base64url')

t.test('remote commands from the gateway to a kiosk daemon over real MQTT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-commands-'))
  const tokens = { bar: token(), absent: token(), admin: token(), ops: token(), adminHttp: token() }
  const setup: EventSetup = {
    event: { name: 'commands', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: true },
      // Listed but never started: nobody answers its commands.
      { id: 'bar-2', booth: 'bar', token: tokens.absent, saleAllowed: true, topupAllowed: true },
    ],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway = await startLoopbackGateway({
    dir,
    setup,
    logger: silent,
    config: {
      adminToken: tokens.adminHttp,
      operators: [
        { name: 'root', token: tokens.admin, roles: ['admin'] },
        { name: 'ops', token: tokens.ops },
      ],
    },
  })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const httpUrl = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const reader = createMemoryReader()
  const dataDir = join(dir, 'bar-1')
  const config = kioskDaemonConfig({ kioskId: 'bar-1', token: tokens.bar, mqttUrl, dataDir, overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 } })
  let bar = await createKioskDaemon({ config, logger: silent, clock: systemClock, reader })
  const admin = await mqtt.connectAsync(mqttUrl, { username: 'operator:root', password: tokens.admin, clientId: 'operator-root', reconnectPeriod: 0 })
  t.teardown(async () => {
    await admin.endAsync(true).catch(() => undefined)
    await bar.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  gateway.ledger.registry.enrollKiosk('bar-1', bar.publicKeyBase64Url)
  const ready = () => bar.status().connected && bar.status().config !== null && bar.status().chain.status === 'intact'
  await bar.start()
  await waitUntil(ready, 'the kiosk connected with its config and its chain checked', 1000, 10)

  // The admin operator reads every answer the kiosk publishes.
  const answers: CommandAnswer[] = []
  admin.on('message', (_topic, payload) => {
    const parsed = validateCommandAnswer(JSON.parse(payload.toString('utf8')))
    if (parsed.ok) answers.push(parsed.value)
  })
  await admin.subscribeAsync(topics.allKioskCmdAnswers, { qos: 1 })
  const answerTo = async (id: string, count = 1): Promise<CommandAnswer[]> => {
    await waitUntil(() => answers.filter((a) => a.id === id).length >= count, `answer(s) to ${id}`, 1000, 10)
    return answers.filter((a) => a.id === id)
  }
  const command = (name: KioskCommand['command'], over: Partial<KioskCommand> = {}): KioskCommand => ({
    v: 1,
    id: randomUUID(),
    kiosk: 'bar-1',
    command: name,
    by: 'root',
    issuedAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    ...over,
  })
  const booked = () => {
    const s = gateway.ledger.stats()
    return s.accepted + s.rejected
  }
  const adminPost = (kiosk: string, body: unknown, operator = `root:${tokens.admin}`) =>
    fetch(`${httpUrl}/admin/kiosks/${kiosk}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.adminHttp}`, 'content-type': 'application/json', 'wristpay-operator': operator },
      body: JSON.stringify(body),
    })

  t.match(await tapAndAwait(bar.kiosk.topUp(5_000), reader, GUEST), { status: 'accepted' }, 'the guest has money')

  await t.test('locked: a sale is refused with the lock reason and nothing is booked; unlocked: it sells', async (t) => {
    const locked = await gateway.kioskCommands.send({ kioskId: 'bar-1', command: 'lock', by: 'root', reason: 'cash count', timeoutMs: 10_000 })
    t.match(locked, { status: 'done', kiosk: 'bar-1', command: 'lock', locked: true })
    t.match(bar.status().lock, { by: 'root', reason: 'cash count' })
    const before = booked()
    await t.rejects(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), { name: 'KioskError', type: 'locked', message: /locked by operator root \(cash count\)/ })
    await t.rejects(bar.kiosk.topUp(1_000), { name: 'KioskError', type: 'locked' }, 'every operation')
    t.equal(booked(), before, 'nothing was booked')
    t.equal(bar.outbox.depth(), 0, 'nothing was signed')

    // The cashier sees why: the local API's /state (the screen's source) and its refusal.
    const api = bar.apiAddress()!
    const state = (await (await fetch(`http://127.0.0.1:${api.port}/state`)).json()) as { lock: { by: string; message: string } | null }
    t.match(state.lock, { by: 'root', message: /locked by operator root/ })

    const unlocked = await gateway.kioskCommands.send({ kioskId: 'bar-1', command: 'unlock', by: 'root', timeoutMs: 10_000 })
    t.match(unlocked, { status: 'done', locked: false })
    t.equal(bar.status().lock, null)
    t.match(await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST), { status: 'accepted', balance: 4_550 })
  })

  await t.test('a locked kiosk restarted stays locked', async (t) => {
    t.match(await gateway.kioskCommands.send({ kioskId: 'bar-1', command: 'lock', by: 'root', reason: 'moved', timeoutMs: 10_000 }), { status: 'done' })
    await bar.stop()
    bar = await createKioskDaemon({ config, logger: silent, clock: systemClock, reader })
    t.match(bar.status().lock, { by: 'root', reason: 'moved' }, 'locked before it even connects')
    await t.rejects(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), { name: 'KioskError', type: 'locked' })
    await bar.start()
    await waitUntil(ready, 'the restarted kiosk connected', 1000, 10)
    t.match(await gateway.kioskCommands.send({ kioskId: 'bar-1', command: 'unlock', by: 'root', timeoutMs: 10_000 }), { status: 'done', locked: false })
  })

  await t.test('the same command delivered twice runs once; the repeat answers duplicate with the first answer', async (t) => {
    const lock = command('lock', { reason: 'twice' })
    await admin.publishAsync(topics.kioskCmd('bar-1'), JSON.stringify(lock), { qos: 1 })
    t.match((await answerTo(lock.id))[0], { status: 'done', locked: true })
    const unlock = command('unlock')
    await admin.publishAsync(topics.kioskCmd('bar-1'), JSON.stringify(unlock), { qos: 1 })
    await answerTo(unlock.id)
    t.equal(bar.status().lock, null)
    // The lock again, as a redelivery or a replay would bring it: not run, the kiosk stays unlocked.
    await admin.publishAsync(topics.kioskCmd('bar-1'), JSON.stringify(lock), { qos: 1 })
    const [, repeat] = await answerTo(lock.id, 2)
    t.match(repeat, { status: 'duplicate', locked: false, first: { status: 'done' } })
    t.equal(bar.status().lock, null, 'the lock did not run again')
  })

  await t.test('an expired command is answered expired and not run', async (t) => {
    const late = command('lock', { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 60_000 })
    await admin.publishAsync(topics.kioskCmd('bar-1'), JSON.stringify(late), { qos: 1 })
    t.match((await answerTo(late.id))[0], { status: 'expired', locked: false })
    t.equal(bar.status().lock, null)
  })

  await t.test('report_state and reload_config answer done', async (t) => {
    t.match(await gateway.kioskCommands.send({ kioskId: 'bar-1', command: 'report_state', by: 'root', timeoutMs: 10_000 }), { status: 'done' })
    const reload = await gateway.kioskCommands.send({ kioskId: 'bar-1', command: 'reload_config', by: 'root', timeoutMs: 10_000 })
    t.match(reload, { status: 'done', message: /config version \d+ (applied|kept)/ })
  })

  await t.test('the admin route: an admin operator sends, others are refused; unknown kiosks 404; no answer 504', async (t) => {
    const ok = await adminPost('bar-1', { command: 'report_state' })
    t.equal(ok.status, 200)
    t.match(await ok.json(), { status: 'done', kiosk: 'bar-1', command: 'report_state' })

    const readOnly = await adminPost('bar-1', { command: 'lock' }, `ops:${tokens.ops}`)
    t.equal(readOnly.status, 403)
    t.match(await readOnly.json(), { type: 'operator_not_admin' })
    const noOperator = await fetch(`${httpUrl}/admin/kiosks/bar-1/commands`, { method: 'POST', headers: { authorization: `Bearer ${tokens.adminHttp}`, 'content-type': 'application/json' }, body: '{"command":"lock"}' })
    t.equal(noOperator.status, 401)
    const wrongToken = await adminPost('bar-1', { command: 'lock' }, 'root:not-the-token')
    t.equal(wrongToken.status, 401)
    t.equal(bar.status().lock, null, 'none of the refused requests locked the kiosk')

    const unknown = await adminPost('ghost-9', { command: 'lock' })
    t.equal(unknown.status, 404)
    t.match(await unknown.json(), { type: 'unknown_kiosk' })
    const bad = await adminPost('bar-1', { command: 'explode' })
    t.equal(bad.status, 400)

    t.same(await gateway.kioskCommands.send({ kioskId: 'bar-2', command: 'lock', by: 'root', timeoutMs: 200 }), { status: 'timeout' }, 'a kiosk that is not connected: timeout')
  })
})
