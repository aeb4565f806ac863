// Reader adapter for BLE NFC readers that expose the Nordic UART Service
// (NUS) and carry the same framed reader protocol as the serial boards
// (framed-link.ts). It scans for NUS, connects only to the configured reader
// addresses, writes frames to RX in pieces of at most the ATT payload, feeds
// TX notifications into the deframer, and reconnects after every drop.
//
// noble is loaded lazily: its main entry opens an HCI socket when imported
// and throws (EAFNOSUPPORT) on a machine without Bluetooth. Then, and when the
// adapter is off, the reader says so (readerError, status connected:false)
// and waits; it never takes the daemon down.
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { createFramedReaderLink, type FramedReaderLink } from './framed-link.js'
import { normaliseBleAddress } from './ble-address.js'
import type { Reader, ReaderDeviceInfo, ReaderFeedback, ReaderStatus } from './reader.js'

/** Nordic UART Service and its characteristics, as noble spells UUIDs. */
export const NUS_SERVICE_UUID = '6e400001b5a3f393e0a9e50e24dcca9e'
/** RX: host → reader, write. */
export const NUS_RX_UUID = '6e400002b5a3f393e0a9e50e24dcca9e'
/** TX: reader → host, notify. */
export const NUS_TX_UUID = '6e400003b5a3f393e0a9e50e24dcca9e'

/** ATT payload of the default MTU (23 - 3 bytes of ATT header). */
export const DEFAULT_WRITE_CHUNK_BYTES = 20
/** Largest ATT attribute value. */
const MAX_WRITE_CHUNK_BYTES = 512

// The parts of noble this adapter uses, so that tests can hand in noble on
// simulated bindings (or anything shaped like it).
export interface NobleCharacteristicLike extends EventEmitter {
  uuid: string
  properties: string[]
  write(data: Buffer, withoutResponse: boolean, callback?: (error?: unknown) => void): void
  subscribe(callback?: (error?: unknown) => void): void
}

export interface NoblePeripheralLike extends EventEmitter {
  id: string
  address: string
  mtu: number | null
  state: string
  connect(callback?: (error?: unknown) => void): void
  /** Abandons a connection attempt that has not completed. */
  cancelConnect?(): void
  disconnect(callback?: () => void): void
  discoverSomeServicesAndCharacteristics(
    serviceUuids: string[],
    characteristicUuids: string[],
    callback: (error: unknown, services: unknown[] | null, characteristics: NobleCharacteristicLike[] | null) => void,
  ): void
}

export interface NobleLike extends EventEmitter {
  /** 'unknown' | 'resetting' | 'unsupported' | 'unauthorized' | 'poweredOff' | 'poweredOn' */
  readonly state: string
  startScanning(serviceUuids: string[], allowDuplicates: boolean, callback?: (error?: Error | null) => void): void
  stopScanning(callback?: () => void): void
}

export interface BleReaderOptions {
  /** MAC addresses of the readers to use (AA:BB:CC:DD:EE:FF, any case). Other NUS devices are ignored. */
  addresses: string[]
  logger: Logger
  /** Default: import('@abandonware/noble'), which needs a Bluetooth adapter. */
  loadNoble?: () => Promise<NobleLike>
  /** Pause after a disconnect or a failed connection before scanning for that reader again. */
  reconnectDelayMs?: number
  /** How long feedback() waits for the reader's acknowledgement; also the bound on one BLE write. */
  ackTimeoutMs?: number
  /** While a configured reader is missing, the scan is restarted (and the absence reported) this often. */
  scanTimeoutMs?: number
  /** Bound on connect + service discovery + subscription. */
  connectTimeoutMs?: number
  /** Caps each write to RX below the ATT payload, for readers with small receive buffers. Default: MTU - 3 (20 bytes at the default MTU). */
  writeChunkBytes?: number
  maxFrameBytes?: number
}

export const BLE_READER_COUNTERS = [
  'frames',
  'crcErrors',
  'discardedBytes',
  'oversize',
  'malformed',
  'unknownTypes',
  'reconnects', // connections to a reader that had been connected before
  'connectFailures', // connect, discovery or subscription failed or timed out
  'disconnects', // established connections lost
  'scanRestarts', // scans restarted because a configured reader stayed missing
  'ignoredDevices', // advertisements of NUS devices that are not configured
  'writeTimeouts',
  'errors', // noble errors, failed writes, listeners that threw
  'deviceErrors',
  'feedbackTimeouts',
  'unmatchedAcks',
] as const
export type BleReaderCounter = (typeof BLE_READER_COUNTERS)[number]

export interface BleReader extends Reader {
  readonly addresses: readonly string[]
}

export { normaliseBleAddress }

async function defaultLoadNoble(): Promise<NobleLike> {
  // The package is an optional dependency and opens the HCI socket on import.
  const mod = (await import('@abandonware/noble')) as unknown as { default?: NobleLike }
  return (mod.default ?? mod) as NobleLike
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return typeof err === 'string' ? err : String(err)
}

interface Connection {
  peripheral: NoblePeripheralLike
  state: 'connecting' | 'ready'
  rx?: NobleCharacteristicLike
  tx?: NobleCharacteristicLike
  chunkBytes: number
  queue: Buffer[]
  writing: boolean
  timer: NodeJS.Timeout | null // set-up bound while connecting, write bound while writing
  /** Removes every listener this connection put on noble objects. */
  detach: () => void
}

interface Slot {
  address: string
  link: FramedReaderLink
  conn: Connection | null
  device?: ReaderDeviceInfo
  everConnected: boolean
  retryTimer: NodeJS.Timeout | null
  /** Failures since the last good connection; the first one of a streak is reported. */
  failing: boolean
}

export function createBleReader(options: BleReaderOptions): BleReader {
  const {
    logger: parentLogger,
    loadNoble = defaultLoadNoble,
    reconnectDelayMs = 2_000,
    ackTimeoutMs = 1_000,
    scanTimeoutMs = 10_000,
    connectTimeoutMs = 10_000,
    writeChunkBytes,
    maxFrameBytes,
  } = options
  if (writeChunkBytes !== undefined && (!Number.isInteger(writeChunkBytes) || writeChunkBytes < 1)) throw new RangeError(`writeChunkBytes must be a positive integer, got ${writeChunkBytes}`)
  if (!Array.isArray(options.addresses) || options.addresses.length === 0) throw new RangeError('a BLE reader needs at least one reader address')
  const addresses: string[] = []
  for (const raw of options.addresses) {
    const address = normaliseBleAddress(raw)
    if (address === null) throw new RangeError(`BLE reader address must look like AA:BB:CC:DD:EE:FF, got ${JSON.stringify(String(raw).slice(0, 40))}`)
    if (addresses.includes(address)) throw new RangeError(`BLE reader address ${address} is listed twice`)
    addresses.push(address)
  }
  const logger = parentLogger.child({ reader: 'ble' })
  const counters = Object.fromEntries(BLE_READER_COUNTERS.map((name) => [name, 0])) as Record<BleReaderCounter, number>
  const reader = new EventEmitter() as BleReader

  let wanted = false // between open() and close()
  let noble: NobleLike | null = null
  let loading: Promise<void> | null = null
  let adapterState = 'unknown'
  let adapterReported = false // the current adapter trouble was reported
  let scanning = false
  let scanTimer: NodeJS.Timeout | null = null
  let missingReported = false
  let lastTagSlot: Slot | null = null
  const ignoredLogged = new Set<string>()

  function safeEmit(event: string, ...args: unknown[]): void {
    try {
      reader.emit(event, ...args)
    } catch (err) {
      counters.errors++
      logger.error({ err, event }, 'a reader event listener threw')
    }
  }

  const slots: Slot[] = addresses.map((address) => {
    const slot: Slot = { address, conn: null, everConnected: false, retryTimer: null, failing: false, link: undefined as unknown as FramedReaderLink }
    slot.link = createFramedReaderLink({
      logger: logger.child({ address }),
      counters,
      ackTimeoutMs,
      ...(maxFrameBytes === undefined ? {} : { maxFrameBytes }),
      write: (bytes) => enqueueWrite(slot, bytes),
      emit(event, ...args) {
        if (event === 'tag') lastTagSlot = slot
        safeEmit(event, ...args)
      },
      onDevice(device) {
        slot.device = device
        safeEmit('status', status())
      },
    })
    return slot
  })

  function ready(slot: Slot): boolean {
    return slot.conn?.state === 'ready'
  }

  function status(): ReaderStatus {
    const first = slots.find((s) => ready(s) && s.device) ?? slots.find(ready)
    return {
      kind: 'ble',
      connected: first !== undefined,
      ...(first?.device ? { device: { ...first.device } } : {}),
      counters: { ...counters },
    }
  }

  // ---- writing: frames go to RX in ATT-sized pieces, one write at a time ----

  function enqueueWrite(slot: Slot, bytes: Buffer): void {
    const conn = slot.conn
    if (!conn || conn.state !== 'ready') return // feedback() checks first; identify() only runs when ready
    for (let i = 0; i < bytes.length; i += conn.chunkBytes) conn.queue.push(bytes.subarray(i, i + conn.chunkBytes))
    pump(slot, conn)
  }

  function pump(slot: Slot, conn: Connection): void {
    if (conn.writing || conn.queue.length === 0 || slot.conn !== conn) return
    const chunk = conn.queue.shift()!
    const rx = conn.rx!
    conn.writing = true
    // With response where the reader offers it: the acknowledgement is our flow control.
    const withoutResponse = !rx.properties.includes('write')
    conn.timer = setTimeout(() => {
      counters.writeTimeouts++
      dropConnection(slot, `a write to BLE reader ${slot.address} was not completed within ${ackTimeoutMs} ms`)
    }, ackTimeoutMs)
    try {
      rx.write(chunk, withoutResponse, (err?: unknown) => {
        if (slot.conn !== conn) return
        if (conn.timer) clearTimeout(conn.timer)
        conn.timer = null
        conn.writing = false
        if (err) {
          counters.errors++
          logger.warn({ address: slot.address, err: errorMessage(err) }, 'write to the BLE reader failed')
        }
        pump(slot, conn)
      })
    } catch (err) {
      counters.errors++
      logger.warn({ address: slot.address, err: errorMessage(err) }, 'write to the BLE reader failed')
      dropConnection(slot, `write to BLE reader ${slot.address} failed: ${errorMessage(err)}`)
    }
  }

  // ---- scanning ----

  function wantsScan(): boolean {
    if (!wanted || !noble || adapterState !== 'poweredOn') return false
    // No scan while a connection is being set up: many controllers cannot do both.
    if (slots.some((s) => s.conn?.state === 'connecting')) return false
    return slots.some((s) => !s.conn && !s.retryTimer)
  }

  function stopScan(): void {
    if (scanTimer) clearTimeout(scanTimer)
    scanTimer = null
    if (!scanning) return
    scanning = false
    try {
      noble?.stopScanning()
    } catch (err) {
      counters.errors++
      logger.warn({ err: errorMessage(err) }, 'stopping the BLE scan failed')
    }
  }

  function updateScan(): void {
    if (!wantsScan()) {
      stopScan()
      return
    }
    if (scanning) return
    scanning = true
    logger.debug({ missing: slots.filter((s) => !s.conn).map((s) => s.address) }, 'scanning for BLE readers')
    // Duplicates filtered: noble reports each device once per scan, and a
    // restarted scan reports it again.
    noble!.startScanning([NUS_SERVICE_UUID], false, (err) => {
      if (!err) return
      scanning = false
      counters.errors++
      logger.warn({ err: err.message }, 'cannot start the BLE scan')
    })
    scanTimer = setTimeout(onScanTimeout, scanTimeoutMs)
  }

  function restartScan(): void {
    stopScan()
    updateScan()
  }

  function onScanTimeout(): void {
    scanTimer = null
    const missing = slots.filter((s) => !s.conn).map((s) => s.address)
    if (missing.length === 0) return
    counters.scanRestarts++
    if (!missingReported) {
      missingReported = true
      logger.warn({ missing, scanTimeoutMs }, 'configured BLE readers not found; still scanning')
      safeEmit('readerError', new Error(`BLE reader ${missing.join(', ')} not found within ${scanTimeoutMs} ms; still scanning`))
    }
    restartScan()
  }

  // ---- noble events ----

  function onStateChange(state: string): void {
    const was = adapterState
    adapterState = state
    if (state === 'poweredOn') {
      if (was !== 'poweredOn') logger.info('Bluetooth adapter powered on')
      adapterReported = false
      updateScan()
      return
    }
    scanning = false // the adapter took the scan with it
    stopScan()
    for (const slot of slots) if (slot.conn) connectionLost(slot, `Bluetooth adapter is ${state}`, { retry: false })
    if (state === 'unknown' || state === 'resetting') return // transient: the next state follows
    if (!adapterReported) {
      adapterReported = true
      logger.warn({ state }, 'Bluetooth adapter is not powered on; waiting for it')
      safeEmit('readerError', new Error(`Bluetooth adapter is ${state}; waiting for it to be powered on`))
    }
    safeEmit('status', status())
  }

  function onDiscover(peripheral: NoblePeripheralLike): void {
    const address = normaliseBleAddress(peripheral?.address ?? '')
    const slot = address === null ? undefined : slots.find((s) => s.address === address)
    if (!slot) {
      counters.ignoredDevices++
      const key = address ?? String(peripheral?.id)
      if (!ignoredLogged.has(key)) {
        ignoredLogged.add(key)
        logger.info({ address: key }, 'ignoring a BLE reader that is not configured')
      }
      return
    }
    if (!wanted || adapterState !== 'poweredOn' || slot.conn || slot.retryTimer) return
    connect(slot, peripheral)
  }

  function onWarning(message: unknown): void {
    // Our listener also keeps noble from printing to the console.
    logger.debug({ warning: String(message) }, 'noble warning')
  }

  // ---- connections ----

  function connect(slot: Slot, peripheral: NoblePeripheralLike): void {
    // Each call site types its own listener arguments.
    type Listener = (...args: any[]) => void
    const listeners: Array<[EventEmitter, string, Listener]> = []
    const listen = (emitter: EventEmitter, event: string, fn: Listener) => {
      emitter.on(event, fn)
      listeners.push([emitter, event, fn])
    }
    const conn: Connection = {
      peripheral,
      state: 'connecting',
      chunkBytes: DEFAULT_WRITE_CHUNK_BYTES,
      queue: [],
      writing: false,
      timer: null,
      detach: () => {
        for (const [emitter, event, fn] of listeners) emitter.off(event, fn)
        listeners.length = 0
      },
    }
    slot.conn = conn
    const current = () => slot.conn === conn
    logger.info({ address: slot.address }, 'connecting to the BLE reader')
    updateScan() // stops the scan while we connect

    const fail = (reason: string) => {
      if (!current() || conn.state !== 'connecting') return
      counters.connectFailures++
      if (!slot.failing) {
        slot.failing = true
        logger.warn({ address: slot.address, reason, retryInMs: reconnectDelayMs }, 'cannot connect to the BLE reader; retrying')
        safeEmit('readerError', new Error(`cannot connect to BLE reader ${slot.address}: ${reason}`))
      } else {
        logger.debug({ address: slot.address, reason }, 'BLE reader still cannot be connected')
      }
      release(slot, conn)
      scheduleRetry(slot)
      updateScan()
    }

    conn.timer = setTimeout(() => fail(`no connection within ${connectTimeoutMs} ms`), connectTimeoutMs)
    listen(peripheral, 'disconnect', (reason: unknown) => {
      if (!current()) return
      if (conn.state === 'connecting') return fail(`disconnected during set-up (reason ${String(reason)})`)
      counters.disconnects++
      connectionLost(slot, `BLE reader ${slot.address} disconnected (reason ${String(reason)})`, { retry: true })
    })

    const guarded = (fn: () => void) => {
      try {
        fn()
      } catch (err) {
        counters.errors++
        fail(errorMessage(err))
      }
    }

    guarded(() =>
      peripheral.connect((err) => {
        if (!current()) return
        if (err) return fail(`connect failed: ${errorMessage(err)}`)
        guarded(() =>
          peripheral.discoverSomeServicesAndCharacteristics([NUS_SERVICE_UUID], [NUS_RX_UUID, NUS_TX_UUID], (error, _services, characteristics) => {
            if (!current()) return
            if (error) return fail(`no Nordic UART Service: ${errorMessage(error)}`)
            const rx = characteristics?.find((c) => c.uuid === NUS_RX_UUID)
            const tx = characteristics?.find((c) => c.uuid === NUS_TX_UUID)
            if (!rx || !tx) return fail('the Nordic UART Service lacks its RX or TX characteristic')
            conn.rx = rx
            conn.tx = tx
            slot.link.reset() // before the first notification of this connection
            listen(tx, 'data', (data: Buffer, isNotification: boolean) => {
              if (!current() || isNotification === false) return
              if (!Buffer.isBuffer(data)) {
                counters.errors++
                return
              }
              slot.link.receive(data)
            })
            guarded(() =>
              tx.subscribe((subscribeError) => {
                if (!current()) return
                if (subscribeError) return fail(`cannot subscribe to TX: ${errorMessage(subscribeError)}`)
                established(slot, conn)
              }),
            )
          }),
        )
      }),
    )
  }

  function established(slot: Slot, conn: Connection): void {
    if (conn.timer) clearTimeout(conn.timer)
    conn.timer = null
    conn.state = 'ready'
    const mtu = conn.peripheral.mtu
    const attPayloadBytes = typeof mtu === 'number' && Number.isInteger(mtu) && mtu > 23 ? Math.min(mtu - 3, MAX_WRITE_CHUNK_BYTES) : DEFAULT_WRITE_CHUNK_BYTES
    conn.chunkBytes = Math.min(attPayloadBytes, writeChunkBytes ?? attPayloadBytes)
    if (slot.everConnected) counters.reconnects++
    slot.everConnected = true
    slot.failing = false
    missingReported = false
    logger.info({ address: slot.address, chunkBytes: conn.chunkBytes }, 'BLE reader connected')
    safeEmit('status', status())
    // The reader may have greeted before we subscribed: ask it who it is.
    slot.link.identify()
    updateScan() // other readers may still be missing
  }

  /** Forgets a connection: listeners off, timers cleared, the link disconnected (best effort). */
  function release(slot: Slot, conn: Connection): void {
    if (slot.conn !== conn) return
    slot.conn = null
    slot.device = undefined
    if (lastTagSlot === slot) lastTagSlot = null
    conn.detach()
    if (conn.timer) clearTimeout(conn.timer)
    conn.timer = null
    conn.queue.length = 0
    slot.link.rejectPending(wanted ? 'reader disconnected' : 'reader closed')
    const { peripheral } = conn
    if (peripheral.state !== 'disconnected') {
      try {
        if (peripheral.state === 'connecting' && typeof peripheral.cancelConnect === 'function') peripheral.cancelConnect()
        else peripheral.disconnect()
      } catch (err) {
        counters.errors++
        logger.debug({ err: errorMessage(err) }, 'BLE disconnect failed')
      }
    }
  }

  function connectionLost(slot: Slot, why: string, { retry }: { retry: boolean }): void {
    const conn = slot.conn
    if (!conn) return
    const wasReady = conn.state === 'ready'
    release(slot, conn)
    if (wasReady) {
      logger.warn({ address: slot.address, why }, 'BLE reader connection lost')
      safeEmit('readerError', new Error(why))
      safeEmit('status', status())
    }
    if (retry) scheduleRetry(slot)
    updateScan()
  }

  /** A connection we give up on ourselves (a write that hangs): it is lost, and retried. */
  function dropConnection(slot: Slot, why: string): void {
    counters.disconnects++
    connectionLost(slot, why, { retry: true })
  }

  function scheduleRetry(slot: Slot): void {
    if (!wanted || slot.retryTimer) return
    slot.retryTimer = setTimeout(() => {
      slot.retryTimer = null
      // A fresh scan: noble reports each device once per scan, and this one may have been seen already.
      restartScan()
    }, reconnectDelayMs)
  }

  async function start(): Promise<void> {
    let loaded: NobleLike
    try {
      loaded = await loadNoble()
      if (!loaded || typeof loaded.startScanning !== 'function') throw new Error('the BLE library did not load')
    } catch (err) {
      const message = errorMessage(err)
      logger.error({ err: message }, 'BLE is unavailable on this machine')
      safeEmit('readerError', new Error(`BLE is unavailable on this machine: ${message}`))
      safeEmit('status', status())
      return
    }
    if (!wanted) return // close() came first
    noble = loaded
    noble.on('stateChange', onStateChange)
    noble.on('discover', onDiscover)
    noble.on('warning', onWarning)
    let state: string
    try {
      state = noble.state // initialises the bindings if nothing did yet
    } catch (err) {
      detachNoble()
      const message = errorMessage(err)
      logger.error({ err: message }, 'BLE is unavailable on this machine')
      safeEmit('readerError', new Error(`BLE is unavailable on this machine: ${message}`))
      return
    }
    if (state !== 'unknown') onStateChange(state)
  }

  function detachNoble(): void {
    noble?.off('stateChange', onStateChange)
    noble?.off('discover', onDiscover)
    noble?.off('warning', onWarning)
    noble = null
    adapterState = 'unknown'
  }

  function waitForDisconnect(peripheral: NoblePeripheralLike): Promise<void> {
    return new Promise((resolve) => {
      if (peripheral.state === 'disconnected') return resolve()
      const timer = setTimeout(done, ackTimeoutMs)
      function done() {
        clearTimeout(timer)
        peripheral.off('disconnect', done)
        resolve()
      }
      peripheral.on('disconnect', done)
    })
  }

  return Object.assign(reader, {
    kind: 'ble' as const,
    addresses,
    status,
    /**
     * Loads noble and starts scanning; resolves without waiting for a reader
     * (see status().connected and the 'status' event). When BLE is unavailable
     * it reports a readerError and resolves.
     */
    async open() {
      if (wanted) return
      wanted = true
      loading = start().finally(() => {
        loading = null
      })
      await loading
    },
    async close() {
      wanted = false
      await loading
      stopScan()
      const disconnecting: Promise<void>[] = []
      let hadConnection = false
      for (const slot of slots) {
        if (slot.retryTimer) clearTimeout(slot.retryTimer)
        slot.retryTimer = null
        slot.failing = false
        const conn = slot.conn
        if (conn) {
          hadConnection ||= conn.state === 'ready'
          disconnecting.push(waitForDisconnect(conn.peripheral))
          release(slot, conn)
        }
      }
      await Promise.all(disconnecting)
      detachNoble()
      missingReported = false
      adapterReported = false
      if (hadConnection) safeEmit('status', status())
    },
    feedback(feedback: ReaderFeedback): Promise<void> {
      // The reader the guest just tapped, else every connected one.
      const targets = lastTagSlot && ready(lastTagSlot) ? [lastTagSlot] : slots.filter(ready)
      if (targets.length === 0) return Promise.reject(new Error('reader not connected'))
      return Promise.all(targets.map((slot) => slot.link.feedback(feedback))).then(() => undefined)
    },
  })
}
