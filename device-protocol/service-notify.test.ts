import t from 'tap'
import { createServiceNotifier, createSystemdService, loadSystemdNotifier, watchdogIntervalMs, type SystemdNotifier } from './service-notify.js'
import { startNotifyReceiver } from './testing/notify-receiver.js'

function recordingNotifier(): SystemdNotifier & { sent: string[] } {
  const sent: string[] = []
  return { sent, ready: () => void sent.push('READY=1'), watchdog: () => void sent.push('WATCHDOG=1'), stopping: () => void sent.push('STOPPING=1') }
}

function fakeTimers() {
  const live = new Map<number, { fn: () => void; ms: number }>()
  let next = 1
  return {
    live,
    setInterval: (fn: () => void, ms: number) => {
      live.set(next, { fn, ms })
      return next++
    },
    clearInterval: (handle: unknown) => void live.delete(handle as number),
    /** Runs every live interval once, as if its period had passed. */
    fire: () => [...live.values()].forEach(({ fn }) => fn()),
  }
}

const silentLog = { info: () => {}, warn: () => {}, error: () => {} }

t.test('the watchdog pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', async (t) => {
  t.equal(watchdogIntervalMs({}, 42), null, 'no watchdog')
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 15_000)
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000)
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42), null, 'meant for another process')
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), null)
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42), null)
})

t.test('ready tells systemd and starts the pings; stopping ends them and says so', async (t) => {
  const notifier = recordingNotifier()
  const timers = fakeTimers()
  const service = createServiceNotifier({ env: { WATCHDOG_USEC: '30000000' }, pid: 7, notifier, healthy: () => true, timers })
  t.same(notifier.sent, [], 'nothing before ready')
  service.ready()
  t.same(notifier.sent, ['READY=1'])
  t.same([...timers.live.values()].map((timer) => timer.ms), [15_000])
  timers.fire()
  timers.fire()
  t.same(notifier.sent, ['READY=1', 'WATCHDOG=1', 'WATCHDOG=1'])
  service.stopping()
  t.same(notifier.sent, ['READY=1', 'WATCHDOG=1', 'WATCHDOG=1', 'STOPPING=1'])
  t.equal(timers.live.size, 0, 'no pings after stopping')
  service.stopping()
  t.equal(notifier.sent.length, 4, 'STOPPING=1 once')
})

t.test('a failing health check stops the pings until it passes again', async (t) => {
  const notifier = recordingNotifier()
  const timers = fakeTimers()
  let health: () => boolean = () => true
  const changes: Array<[boolean, string | undefined]> = []
  const service = createServiceNotifier({
    env: { WATCHDOG_USEC: '2000000' },
    pid: 7,
    notifier,
    healthy: () => health(),
    timers,
    onHealthChange: (healthy, reason) => changes.push([healthy, reason]),
  })
  service.ready()
  timers.fire()
  health = () => false
  timers.fire()
  timers.fire()
  health = () => {
    throw new Error('database is locked')
  }
  timers.fire()
  t.same(notifier.sent, ['READY=1', 'WATCHDOG=1'], 'no ping while the check fails or throws')
  t.same(changes, [[false, undefined]], 'told once when the pings stop')
  health = () => true
  timers.fire()
  t.same(notifier.sent, ['READY=1', 'WATCHDOG=1', 'WATCHDOG=1'])
  t.same(changes, [[false, undefined], [true, undefined]])
  service.close()
})

t.test('a throwing health check names its error; a throwing notifier is reported, not thrown', async (t) => {
  const changes: Array<[boolean, string | undefined]> = []
  const errors: unknown[] = []
  const failing: SystemdNotifier = {
    ready: () => {
      throw new Error('send failed')
    },
    watchdog: () => {},
    stopping: () => {},
  }
  const service = createServiceNotifier({
    env: { WATCHDOG_USEC: '2000000' },
    pid: 7,
    notifier: failing,
    healthy: () => {
      throw new Error('database is locked')
    },
    timers: fakeTimers(),
    onHealthChange: (healthy, reason) => changes.push([healthy, reason]),
    onError: (err) => errors.push(err),
  })
  service.ready()
  t.equal(errors.length, 1)
  t.equal(service.tick(), false)
  t.same(changes, [[false, 'database is locked']])
  service.close()
})

t.test('without a watchdog, or for another process, there are no pings', async (t) => {
  for (const env of [{}, { WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }]) {
    const notifier = recordingNotifier()
    const timers = fakeTimers()
    const service = createServiceNotifier({ env, pid: 7, notifier, healthy: () => true, timers })
    service.ready()
    t.equal(service.watchdogIntervalMs, null)
    t.equal(timers.live.size, 0)
    t.same(notifier.sent, ['READY=1'])
    service.stopping()
  }
})

t.test('without NOTIFY_SOCKET the library is not even loaded and nothing is sent', async (t) => {
  let imported = 0
  const loaded = await loadSystemdNotifier({ WATCHDOG_USEC: '30000000' }, 7, async () => {
    imported++
    return {}
  })
  t.same(loaded, { notifier: null })
  t.equal(imported, 0)
  const service = await createSystemdService({ env: {}, pid: 7, healthy: () => true, log: silentLog, importSdNotify: () => Promise.reject(new Error('not called')) })
  t.equal(service.watchdogIntervalMs, null)
  service.ready()
  service.stopping()
})

t.test('a missing library is logged as an error and the daemon runs on without notifications', async (t) => {
  const errors: string[] = []
  const service = await createSystemdService({
    env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' },
    pid: 7,
    healthy: () => true,
    log: { ...silentLog, error: (message) => errors.push(message) },
    importSdNotify: () => Promise.reject(new Error('libsystemd.so.0: cannot open shared object file')),
  })
  t.equal(service.watchdogIntervalMs, null)
  t.equal(errors.length, 1)
  t.match(errors[0], /NOTIFY_SOCKET is set but the sd-notify library could not be loaded \(libsystemd\.so\.0/)
  service.ready()
  service.stopping()
})

t.test('the real sd-notify library sends READY=1, WATCHDOG=1 and STOPPING=1 to a datagram socket as systemd would get them', async (t) => {
  const receiver = await startNotifyReceiver()
  const previousSocket = process.env.NOTIFY_SOCKET
  t.teardown(() => {
    if (previousSocket === undefined) delete process.env.NOTIFY_SOCKET
    else process.env.NOTIFY_SOCKET = previousSocket
    receiver.close()
  })
  // The native library reads the process's own environment.
  process.env.NOTIFY_SOCKET = receiver.path
  const service = await createSystemdService({
    env: { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) },
    pid: process.pid,
    healthy: () => true,
    log: silentLog,
    importSdNotify: () => import('sd-notify' as string),
  })
  t.equal(service.watchdogIntervalMs, 50)
  service.ready()
  await receiver.waitFor('WATCHDOG=1')
  service.stopping()
  await receiver.waitFor('STOPPING=1')
  t.match(receiver.received(), /^READY=1(WATCHDOG=1)+STOPPING=1$/, 'ready first, then pings, then stopping')
})
