// wristpay-sim reader on demand: commands and keys parsed, hostile lines
// refused with a message, taps through the control socket reach the simulated
// reader board, and --help explains --type.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { createReaderFirmware } from './reader-firmware.js'
import { createTapper, keyCommand, parseReaderArgs, parseTapCommand, sendControlCommand, startControlSocket, type TapTarget } from './reader-cli.js'

const UIDS = ['04A1B2C3D4E5F6', '04A000001C2D80']

t.test('reader options: on demand only with --interval-ms 0, --type checked', async (t) => {
  t.match(parseReaderArgs(['--port', '/tmp/r']), { port: '/tmp/r', uids: ['04A1B2C3D4E5F6'], intervalMs: 3000, holdMs: 800, type: 'ntag215' })
  t.match(parseReaderArgs(['--port', '/tmp/r', '--uids', '04a1b2c3d4e5f6, 04A000001C2D80', '--interval-ms', '0', '--type', 'ntag424', '--control', '/tmp/r.sock']), {
    uids: UIDS,
    intervalMs: 0,
    type: 'ntag424',
    control: '/tmp/r.sock',
  })
  t.throws(() => parseReaderArgs([]), /--port/)
  t.throws(() => parseReaderArgs(['--port', 'p', '--type', 'visa']), /--type must be one of iso14443a, .*ntag215/)
  t.throws(() => parseReaderArgs(['--port', 'p', '--uids', 'zz']), /--uids/)
  t.throws(() => parseReaderArgs(['--port', 'p', '--interval-ms', '-1']), /--interval-ms/)
  t.throws(() => parseReaderArgs(['--port', 'p', '--interval-ms', '500', '--hold-ms', '800']), /shorter/)
})

t.test('command lines and keys', async (t) => {
  t.same(parseTapCommand('tap', UIDS), { kind: 'tap' })
  t.same(parseTapCommand('  tap 2 ', UIDS), { kind: 'tap', uid: UIDS[1] }, 'the second of --uids')
  t.same(parseTapCommand('tap 04b0b0b0b0b0b0', UIDS), { kind: 'tap', uid: '04B0B0B0B0B0B0' }, 'any UID, upper-cased')
  t.same(parseTapCommand('TAP 04B0B0B0B0B0B0 ntag424', UIDS), { kind: 'tap', uid: '04B0B0B0B0B0B0', type: 'ntag424' })
  t.same(parseTapCommand('remove', UIDS), { kind: 'remove' })
  t.same(parseTapCommand('', UIDS), { kind: 'empty' })
  t.same(parseTapCommand('quit', UIDS), { kind: 'quit' })
  for (const [line, message] of [
    ['tap 3', /there are 2 wristbands/],
    ['tap 04XYZ', /is not a UID/],
    ['tap 04B0B0B0B0B0B0 visa', /tag type must be one of/],
    ['tap a b c', /tap takes a UID/],
    ['rm -rf /', /unknown command "rm"/],
    [`tap ${'0'.repeat(10_000)}`, /is not a UID/],
  ] as const) {
    const parsed = parseTapCommand(line, UIDS)
    t.equal(parsed.kind, 'error', line.slice(0, 30))
    t.match((parsed as { message: string }).message, message)
  }
  t.same(keyCommand('2', UIDS), { kind: 'tap', uid: UIDS[1] })
  t.same(keyCommand(' ', UIDS), { kind: 'tap' })
  t.same(keyCommand('\r', UIDS), { kind: 'tap' })
  t.same(keyCommand('r', UIDS), { kind: 'remove' })
  t.same(keyCommand('\u0003', UIDS), { kind: 'quit' }, 'Ctrl-C in raw mode')
  t.match(keyCommand('9', UIDS), { kind: 'error' })
  t.equal(keyCommand('x', UIDS), undefined)
})

t.test('a tap presents the chosen wristband and takes it away after the hold time; the next one goes round the list', async (t) => {
  const events: string[] = []
  const target: TapTarget = { present: (uid, type) => events.push(`present ${uid} ${type}`), remove: () => events.push('remove') }
  const tapper = createTapper({ target, uids: UIDS, type: 'ntag215', holdMs: 20 })
  t.teardown(() => tapper.stop())
  t.equal(tapper.run({ kind: 'tap', uid: '04B0B0B0B0B0B0', type: 'ntag424' }), 'tap 04B0B0B0B0B0B0 (ntag424)')
  for (let i = 0; i < 100 && !events.includes('remove'); i++) await sleep(10)
  t.same(events, ['present 04B0B0B0B0B0B0 ntag424', 'remove'], 'taken away after --hold-ms')
  events.length = 0
  tapper.run({ kind: 'tap' })
  tapper.run({ kind: 'tap' })
  tapper.run({ kind: 'remove' })
  t.same(events, [`present ${UIDS[0]} ntag215`, `present ${UIDS[1]} ntag215`, 'remove'])
  t.match(tapper.run({ kind: 'list' }), `1: ${UIDS[0]}\n2: ${UIDS[1]}`)
  t.match(tapper.run({ kind: 'error', message: 'nope' }), 'error: nope')
  t.equal(tapper.quitting, false)
  tapper.run({ kind: 'quit' })
  t.equal(tapper.quitting, true)
})

t.test('wristpay-sim tap through the control socket taps at the simulated reader board', async (t) => {
  const written: Buffer[] = []
  const firmware = createReaderFirmware({ write: (bytes) => void written.push(bytes) })
  firmware.connect()
  const tapper = createTapper({ target: firmware, uids: UIDS, type: 'ntag215', holdMs: 60_000 })
  // UNIX socket paths are short (108 bytes): not under the test's fixture folder.
  const dir = mkdtempSync(join(tmpdir(), 'wp-sim-'))
  const path = join(dir, 'reader.sock')
  const control = await startControlSocket(path, (line) => tapper.run(parseTapCommand(line, UIDS)))
  t.teardown(async () => {
    tapper.stop()
    await control.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const before = written.length
  t.equal(await sendControlCommand(path, 'tap 2'), `tap ${UIDS[1]} (ntag215)`)
  t.match(firmware.currentTag, { uid: UIDS[1], type: 'ntag215' }, 'the wristband is on the reader')
  t.ok(written.length > before, 'and the board told its host')
  t.equal(await sendControlCommand(path, 'tap 04B0B0B0B0B0B0 ntag424'), 'tap 04B0B0B0B0B0B0 (ntag424)')
  t.match(firmware.currentTag, { uid: '04B0B0B0B0B0B0', type: 'ntag424' })
  t.equal(await sendControlCommand(path, 'remove'), 'removed')
  t.equal(firmware.currentTag, null)
  t.match(await sendControlCommand(path, 'tap 04XYZ'), /^error: .*not a UID/, 'a bad line is answered, nothing tapped')
  t.equal(firmware.currentTag, null)
  t.match(await sendControlCommand(path, 'x'.repeat(1000)), /error: (line too long|unknown command)/, 'a long line is refused')
  await t.rejects(sendControlCommand(join(dir, 'nobody.sock'), 'tap'), { message: /no reader listens at .*--control/ })
  t.equal(statSync(path).mode & 0o777, 0o600, 'only the user who started the reader may tap through it')
  // A --control that names an existing file is refused, and the file is left alone.
  const file = join(dir, 'notes.txt')
  writeFileSync(file, 'keep me')
  await t.rejects(startControlSocket(file, () => undefined), { message: /exists and is no socket/ })
  t.equal(readFileSync(file, 'utf8'), 'keep me')
})

t.test('wristpay-sim --help explains on-demand taps and --type', async (t) => {
  const bin = fileURLToPath(new URL('./bin.ts', import.meta.url))
  const help = spawnSync(process.execPath, [...process.execArgv, bin, '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /keys 1-9 tap that wristband of --uids/)
  t.match(help.stdout, /wristpay-sim tap --control SOCKET UID/)
  t.match(help.stdout, /--type\s+the tag family the reader reports.*ntag424.*tagPolicy\.acceptedTypes.*tag_type_not_accepted/s)
  const bad = spawnSync(process.execPath, [...process.execArgv, bin, 'tap', '04A1B2C3D4E5F6'], { encoding: 'utf8' })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /tap needs --control SOCKET/)
})
