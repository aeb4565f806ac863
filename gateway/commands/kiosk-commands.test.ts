import t from 'tap'
import pino from 'pino'
import { Writable } from 'node:stream'
import { topics, validateKioskCommand, type CommandAnswer, type KioskCommand } from '../../device-protocol/index.js'
import { createKioskCommands } from './kiosk-commands.js'

const ID = '0190a3f1-0000-7000-8000-000000000001'

function world() {
  const published: Array<{ topic: string; command: KioskCommand }> = []
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = []
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }))
  let now = 1_000_000
  let next = 0
  const commands = createKioskCommands({
    publish: async (topic, payload) => {
      published.push({ topic, command: JSON.parse(payload) as KioskCommand })
    },
    clock: { now: () => now },
    newId: () => ID.replace(/1$/, String(++next)),
    logger,
    setTimer: (fn, ms) => {
      const timer = { fn, ms, cancelled: false }
      timers.push(timer)
      return () => (timer.cancelled = true)
    },
  })
  return { commands, published, timers, lines, advance: (ms: number) => (now += ms) }
}

function answerTo(command: KioskCommand, over: Partial<CommandAnswer> = {}): Buffer {
  const answer: CommandAnswer = { v: 1, id: command.id, kiosk: command.kiosk, command: command.command, status: 'done', at: 1, locked: true, ...over }
  return Buffer.from(JSON.stringify(answer))
}

t.test('a command goes to the kiosk cmd topic, valid, expiring when the wait ends, and resolves with its answer', async (t) => {
  const w = world()
  const sent = w.commands.send({ kioskId: 'bar-1', command: 'lock', by: 'alice', timeoutMs: 5_000, reason: 'cash count' })
  await new Promise((r) => setImmediate(r))
  t.equal(w.published.length, 1)
  const { topic, command } = w.published[0]!
  t.equal(topic, topics.kioskCmd('bar-1'))
  t.ok(validateKioskCommand(command).ok, 'the command passes its own schema')
  t.match(command, { kiosk: 'bar-1', command: 'lock', by: 'alice', reason: 'cash count', issuedAt: 1_000_000, expiresAt: 1_005_000 })
  t.equal(w.timers[0]!.ms, 5_000)
  w.commands.handleAnswer('bar-1', answerTo(command))
  t.match(await sent, { id: command.id, status: 'done', locked: true })
  t.ok(w.timers[0]!.cancelled, 'the timeout is cancelled')
  t.ok(w.lines.some((l) => l.by === 'alice' && l.status === 'done' && l.command === 'lock'), 'logged with who and the answer')
})

t.test('no answer in time resolves timeout; a late answer changes nothing', async (t) => {
  const w = world()
  const sent = w.commands.send({ kioskId: 'bar-1', command: 'unlock', by: 'alice', timeoutMs: 100 })
  await new Promise((r) => setImmediate(r))
  w.timers[0]!.fn()
  t.same(await sent, { status: 'timeout' })
  w.commands.handleAnswer('bar-1', answerTo(w.published[0]!.command))
  t.ok(w.lines.some((l) => l.status === 'timeout' && l.by === 'alice'))
})

t.test('answers from another kiosk, with unknown ids or malformed are ignored', async (t) => {
  const w = world()
  const sent = w.commands.send({ kioskId: 'bar-1', command: 'report_state', by: 'bob' })
  await new Promise((r) => setImmediate(r))
  const command = w.published[0]!.command
  w.commands.handleAnswer('bar-2', answerTo(command))
  w.commands.handleAnswer('bar-1', answerTo(command, { kiosk: 'bar-2' }))
  w.commands.handleAnswer('bar-1', Buffer.from('{not json'))
  w.commands.handleAnswer('bar-1', Buffer.from(JSON.stringify({ id: command.id, status: 'done' })))
  w.commands.handleAnswer('bar-1', answerTo({ ...command, id: ID.replace(/1$/, '9') }))
  w.commands.handleAnswer('bar-1', answerTo(command, { status: 'refused', message: 'nope' }))
  t.match(await sent, { status: 'refused', message: 'nope' })
  t.ok(w.lines.some((l) => l.commandId === ID.replace(/1$/, '9') && l.status === 'done'), 'an answer nobody waits for (an operator\'s own MQTT command) is still logged')
})

t.test('a command that cannot be published rejects; the timeout is capped at the longest lifetime', async (t) => {
  const w = world()
  const failing = createKioskCommands({ publish: async () => Promise.reject(new Error('broker down')), clock: { now: () => 0 }, newId: () => ID, logger: pino({ level: 'silent' }), setTimer: (fn, ms) => (w.timers.push({ fn, ms, cancelled: false }), () => {}) })
  await t.rejects(failing.send({ kioskId: 'bar-1', command: 'lock', by: 'a', timeoutMs: 24 * 3600_000 }), /broker down/)
  t.equal(w.timers[0]!.ms, 10 * 60_000)
})

t.test('close answers every waiting command with timeout', async (t) => {
  const w = world()
  const sent = w.commands.send({ kioskId: 'bar-1', command: 'reload_config', by: 'a' })
  w.commands.close()
  t.same(await sent, { status: 'timeout' })
})
