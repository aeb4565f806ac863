// Simulated BLE NFC readers: a noble *bindings* object (the layer under
// noble that real Bluetooth stacks implement: HCI socket on Linux, CoreBluetooth
// on macOS) hosting peripherals that advertise the Nordic UART Service and run
// the reader firmware simulator over its RX/TX characteristics. `new Noble(bindings)`
// from '@abandonware/noble/lib/noble' drives it exactly as it drives hardware,
// so the daemon's BLE adapter is tested through real noble.
//
// Like a radio, everything the bindings report happens asynchronously
// (setImmediate, in order). Notifications are split into pieces of at most
// the ATT payload (MTU - 3 bytes), and writes longer than that are refused,
// as a real peripheral's stack would.
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { createReaderFirmware, type ReaderFirmware, type ReaderFirmwareOptions } from './reader-firmware.js'

/** Nordic UART Service, as noble spells UUIDs (lower case, no dashes). */
export const NUS_SERVICE_UUID = '6e400001b5a3f393e0a9e50e24dcca9e'
/** Host → reader (write). */
export const NUS_RX_UUID = '6e400002b5a3f393e0a9e50e24dcca9e'
/** Reader → host (notify). */
export const NUS_TX_UUID = '6e400003b5a3f393e0a9e50e24dcca9e'

/** The smallest ATT MTU every BLE device supports; 3 bytes of it are the ATT header. */
export const DEFAULT_ATT_MTU = 23
const ATT_HEADER_BYTES = 3

export type AdapterState = 'poweredOn' | 'poweredOff' | 'unsupported' | 'unauthorized'

export interface SimulatedPeripheralOptions extends Omit<ReaderFirmwareOptions, 'write'> {
  /** MAC address, e.g. 'AA:BB:CC:DD:EE:01' (any case). */
  address: string
  /** Advertised local name. */
  name?: string
  /** ATT MTU after the exchange (default 23: 20-byte payloads). */
  mtu?: number
  /** Greets with hello when the host subscribes to TX, as our reader boards do. Default true. */
  helloOnSubscribe?: boolean
  /** Starts switched off (powerOn() later). */
  poweredOff?: boolean
}

export interface SimulatedBleBindingsOptions {
  peripherals: SimulatedPeripheralOptions[]
  /** The host's adapter state at init. Default 'poweredOn'. */
  adapterState?: AdapterState
  /** Period of advertisements while the host scans. Default 50 ms. */
  advertiseIntervalMs?: number
}

export interface SimulatedPeripheralCounters {
  /** Successful connections by the host. */
  connections: number
  /** Writes to RX (each one ATT write). */
  writes: number
  /** Largest single write to RX, in bytes. */
  largestWriteBytes: number
  /** Writes refused for exceeding MTU - 3 bytes. */
  oversizeWrites: number
  /** Notifications sent on TX. */
  notifications: number
  /** Firmware bytes lost because nobody was connected and subscribed. */
  droppedBytes: number
}

export interface SimulatedPeripheral {
  readonly address: string
  /** The reader firmware: present(uid, type), remove(), misbehave, feedbackLog, ... */
  readonly firmware: ReaderFirmware
  readonly connected: boolean
  readonly subscribed: boolean
  readonly poweredOn: boolean
  readonly counters: SimulatedPeripheralCounters
  /** The radio link is lost (out of range, interference): the host sees a disconnect; the reader advertises again. */
  dropConnection(): void
  /** Switched off: the connection drops and it stops advertising. */
  powerOff(): void
  /** Switched on: it advertises again. */
  powerOn(): void
}

export interface SimulatedBleBindings {
  /** Pass to `new Noble(bindings)` (see createNobleWithBindings). */
  bindings: EventEmitter
  /** The peripheral with this address (any case); throws if there is none. */
  peripheral(address: string): SimulatedPeripheral
  /** The host's Bluetooth adapter: powering it off drops every connection. */
  setAdapterState(state: AdapterState): void
  readonly adapterState: AdapterState
  readonly scanning: boolean
}

// HCI disconnect reasons (Bluetooth Core spec, Vol 1 Part F).
const REASON_CONNECTION_TIMEOUT = 0x08
const REASON_REMOTE_POWER_OFF = 0x15
const REASON_LOCAL_HOST_TERMINATED = 0x16

const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

interface PeripheralState extends SimulatedPeripheral {
  uuid: string
  name: string
  mtu: number
  helloOnSubscribe: boolean
  isConnected: boolean
  isSubscribed: boolean
  isPoweredOn: boolean
}

export function createSimulatedBleBindings(options: SimulatedBleBindingsOptions): SimulatedBleBindings {
  const { advertiseIntervalMs = 50 } = options
  let adapterState: AdapterState = options.adapterState ?? 'poweredOn'
  let initialised = false
  let scanFilter: string[] | null = null // null: not scanning
  let advertiseTimer: NodeJS.Timeout | null = null
  const bindings = new EventEmitter()
  const byUuid = new Map<string, PeripheralState>()

  /** Emits asynchronously, in order, as a radio would. */
  function later(event: string, ...args: unknown[]): void {
    setImmediate(() => bindings.emit(event, ...args))
  }

  function poweredOn(): boolean {
    return adapterState === 'poweredOn'
  }

  for (const spec of options.peripherals) {
    const address = spec.address.toLowerCase()
    if (!MAC_ADDRESS.test(address)) throw new RangeError(`peripheral address must look like AA:BB:CC:DD:EE:FF, got ${JSON.stringify(spec.address)}`)
    const uuid = address.replaceAll(':', '')
    if (byUuid.has(uuid)) throw new RangeError(`two peripherals with address ${address}`)
    const mtu = spec.mtu ?? DEFAULT_ATT_MTU
    if (!Number.isInteger(mtu) || mtu < DEFAULT_ATT_MTU || mtu > 517) throw new RangeError(`mtu must be an integer 23..517, got ${mtu}`)
    const { address: _address, name, mtu: _mtu, helloOnSubscribe = true, poweredOff = false, ...firmwareOptions } = spec
    const counters: SimulatedPeripheralCounters = { connections: 0, writes: 0, largestWriteBytes: 0, oversizeWrites: 0, notifications: 0, droppedBytes: 0 }
    const state = {} as PeripheralState
    const firmware = createReaderFirmware({
      ...firmwareOptions,
      write(bytes) {
        if (!state.isConnected || !state.isSubscribed || !poweredOn()) {
          counters.droppedBytes += bytes.length
          return
        }
        const payloadBytes = state.mtu - ATT_HEADER_BYTES
        for (let i = 0; i < bytes.length; i += payloadBytes) {
          counters.notifications++
          later('read', uuid, NUS_SERVICE_UUID, NUS_TX_UUID, Buffer.from(bytes.subarray(i, i + payloadBytes)), true)
        }
      },
    })
    Object.assign(state, {
      uuid,
      name: name ?? `WP-R1 ${address.slice(-5)}`,
      mtu,
      helloOnSubscribe,
      isConnected: false,
      isSubscribed: false,
      isPoweredOn: !poweredOff,
      address,
      firmware,
      counters,
      dropConnection() {
        linkLost(state, REASON_CONNECTION_TIMEOUT)
      },
      powerOff() {
        state.isPoweredOn = false
        linkLost(state, REASON_REMOTE_POWER_OFF)
      },
      powerOn() {
        if (state.isPoweredOn) return
        state.isPoweredOn = true
        if (scanFilter) advertise(state)
      },
    })
    Object.defineProperties(state, {
      connected: { get: () => state.isConnected, enumerable: true },
      subscribed: { get: () => state.isSubscribed, enumerable: true },
      poweredOn: { get: () => state.isPoweredOn, enumerable: true },
    })
    byUuid.set(uuid, state)
  }

  function linkLost(p: PeripheralState, reason: number): void {
    if (!p.isConnected) return
    p.isConnected = false
    p.isSubscribed = false
    later('disconnect', p.uuid, reason)
    if (scanFilter && p.isPoweredOn) advertise(p)
  }

  function advertises(p: PeripheralState): boolean {
    // A connected NUS peripheral stops advertising (one central at a time).
    return p.isPoweredOn && !p.isConnected && poweredOn()
  }

  function advertise(p: PeripheralState): void {
    if (!scanFilter || !advertises(p)) return
    if (scanFilter.length > 0 && !scanFilter.includes(NUS_SERVICE_UUID)) return
    const advertisement = { localName: p.name, serviceUuids: [NUS_SERVICE_UUID], serviceData: [], txPowerLevel: -4, manufacturerData: undefined, serviceSolicitationUuids: [] }
    later('discover', p.uuid, p.address, 'random', true, advertisement, -60, true)
  }

  function advertiseAll(): void {
    for (const p of byUuid.values()) advertise(p)
  }

  function stopAdvertising(): void {
    if (advertiseTimer) clearInterval(advertiseTimer)
    advertiseTimer = null
  }

  function find(uuid: string): PeripheralState | undefined {
    return typeof uuid === 'string' ? byUuid.get(uuid.toLowerCase()) : undefined
  }

  /** The peripheral if the host is connected to it (and the adapter is on). */
  function connectedPeripheral(uuid: string): PeripheralState | undefined {
    const p = find(uuid)
    return p && p.isConnected && poweredOn() ? p : undefined
  }

  const methods = {
    init() {
      initialised = true
      later('addressChange', '00:1a:7d:da:71:13')
      later('stateChange', adapterState)
    },
    setScanParameters() {
      later('scanParametersSet')
    },
    startScanning(serviceUuids?: string[], allowDuplicates?: boolean) {
      if (!poweredOn()) return
      scanFilter = (serviceUuids ?? []).map((u) => u.toLowerCase())
      later('scanStart', !allowDuplicates)
      advertiseAll()
      if (!advertiseTimer) {
        advertiseTimer = setInterval(advertiseAll, advertiseIntervalMs)
        // A simulator must never keep a process alive on its own.
        advertiseTimer.unref()
      }
    },
    stopScanning() {
      const was = scanFilter !== null
      scanFilter = null
      stopAdvertising()
      if (was) later('scanStop')
    },
    connect(uuid: string) {
      const p = find(uuid)
      if (!p || !advertises(p)) {
        // Real stacks wait for an advertisement that never comes; failing
        // at once keeps tests short and takes the same path in the adapter.
        later('connect', uuid, new Error('connection failed to be established'))
        return
      }
      p.isConnected = true
      p.counters.connections++
      later('onMtu', p.uuid, p.mtu)
      later('connect', p.uuid, null)
    },
    cancelConnect() {
      // connect() above never leaves an attempt pending; noble itself reports the cancellation.
    },
    disconnect(uuid: string) {
      const p = find(uuid)
      if (p?.isConnected) {
        linkLost(p, REASON_LOCAL_HOST_TERMINATED)
      } else {
        later('disconnect', uuid, REASON_LOCAL_HOST_TERMINATED)
      }
    },
    updateRssi(uuid: string) {
      if (connectedPeripheral(uuid)) later('rssiUpdate', uuid, -60)
    },
    discoverServices(uuid: string, uuids?: string[]) {
      const p = connectedPeripheral(uuid)
      if (!p) return // a real stack never answers on a dead link
      const wanted = (uuids ?? []).map((u) => u.toLowerCase())
      later('servicesDiscover', p.uuid, wanted.length === 0 || wanted.includes(NUS_SERVICE_UUID) ? [NUS_SERVICE_UUID] : [])
    },
    discoverIncludedServices(uuid: string, serviceUuid: string) {
      if (connectedPeripheral(uuid)) later('includedServicesDiscover', uuid, serviceUuid, [])
    },
    discoverCharacteristics(uuid: string, serviceUuid: string, characteristicUuids?: string[]) {
      const p = connectedPeripheral(uuid)
      if (!p) return
      const all = serviceUuid === NUS_SERVICE_UUID
        ? [
            { uuid: NUS_RX_UUID, properties: ['write', 'writeWithoutResponse'] },
            { uuid: NUS_TX_UUID, properties: ['notify'] },
          ]
        : []
      const wanted = (characteristicUuids ?? []).map((u) => u.toLowerCase())
      later('characteristicsDiscover', p.uuid, serviceUuid, all.filter((c) => wanted.length === 0 || wanted.includes(c.uuid)))
    },
    read(uuid: string, serviceUuid: string, characteristicUuid: string) {
      // RX and TX are not readable; answer with nothing, as a peripheral answering an ATT error would leave noble waiting.
      if (connectedPeripheral(uuid)) later('read', uuid, serviceUuid, characteristicUuid, Buffer.alloc(0), false)
    },
    write(uuid: string, serviceUuid: string, characteristicUuid: string, data: Buffer, withoutResponse: boolean) {
      const p = connectedPeripheral(uuid)
      if (!p) return
      if (serviceUuid !== NUS_SERVICE_UUID || characteristicUuid !== NUS_RX_UUID) return
      const bytes = Buffer.from(data)
      if (bytes.length > p.mtu - ATT_HEADER_BYTES) {
        p.counters.oversizeWrites++
      } else {
        p.counters.writes++
        p.counters.largestWriteBytes = Math.max(p.counters.largestWriteBytes, bytes.length)
        // The firmware handles it after the write completes, never inside the host's call.
        setImmediate(() => {
          if (p.isConnected) p.firmware.receive(bytes)
        })
      }
      // noble reports completion of both kinds of write; an oversize one gets no
      // error here because noble's write callback has no error argument.
      void withoutResponse
      later('write', p.uuid, serviceUuid, characteristicUuid)
    },
    broadcast(uuid: string, serviceUuid: string, characteristicUuid: string) {
      if (connectedPeripheral(uuid)) later('broadcast', uuid, serviceUuid, characteristicUuid, false)
    },
    notify(uuid: string, serviceUuid: string, characteristicUuid: string, enable: boolean) {
      const p = connectedPeripheral(uuid)
      if (!p) return
      if (serviceUuid !== NUS_SERVICE_UUID || characteristicUuid !== NUS_TX_UUID) return
      const was = p.isSubscribed
      p.isSubscribed = Boolean(enable)
      later('notify', p.uuid, serviceUuid, characteristicUuid, p.isSubscribed)
      // After the host's notify callback: the greeting must not overtake it.
      if (p.isSubscribed && !was && p.helloOnSubscribe) setImmediate(() => setImmediate(() => p.firmware.connect()))
    },
    discoverDescriptors(uuid: string, serviceUuid: string, characteristicUuid: string) {
      if (connectedPeripheral(uuid)) later('descriptorsDiscover', uuid, serviceUuid, characteristicUuid, characteristicUuid === NUS_TX_UUID ? ['2902'] : [])
    },
    readValue() {},
    writeValue() {},
    readHandle() {},
    writeHandle() {},
    reset() {},
  }
  Object.assign(bindings, methods)

  return {
    bindings,
    peripheral(address: string) {
      const p = byUuid.get(address.toLowerCase().replaceAll(':', ''))
      if (!p) throw new RangeError(`no simulated peripheral ${address}`)
      return p
    },
    setAdapterState(state: AdapterState) {
      if (state === adapterState) return
      adapterState = state
      if (state !== 'poweredOn') {
        // Every link goes down with the adapter, and so does the scan.
        for (const p of byUuid.values()) linkLost(p, REASON_CONNECTION_TIMEOUT)
        scanFilter = null
        stopAdvertising()
      }
      if (initialised) later('stateChange', state)
    },
    get adapterState() {
      return adapterState
    },
    get scanning() {
      return scanFilter !== null
    },
  }
}

/** The constructor of '@abandonware/noble/lib/noble' (untyped CommonJS). */
type NobleConstructor = new (bindings: EventEmitter) => EventEmitter

/**
 * Real noble on the given bindings. The package's main entry would load the
 * HCI bindings (and throw on a machine without Bluetooth); lib/noble takes any.
 * Throws if the optional dependency is not installed.
 */
export function createNobleWithBindings<T = EventEmitter>(bindings: EventEmitter): T {
  const require = createRequire(import.meta.url)
  const Noble = require('@abandonware/noble/lib/noble') as NobleConstructor
  return new Noble(bindings) as unknown as T
}

export interface SimulatedBleReaderLink {
  /** The reader's address, as configured on the kiosk (`ble:ADDRESS`). */
  address: string
  /** The simulated reader's firmware: present(uid, type), remove(), ... */
  firmware: ReaderFirmware
  peripheral: SimulatedPeripheral
  sim: SimulatedBleBindings
  /** Pass as createBleReader({ loadNoble }): real noble on this simulated adapter. */
  loadNoble: <T = EventEmitter>() => Promise<T>
}

/**
 * One kiosk's simulated Bluetooth adapter with one simulated reader on it,
 * for the demo and tests: each kiosk gets its own, as each has its own radio.
 */
export function createSimulatedBleReaderLink(options: SimulatedPeripheralOptions): SimulatedBleReaderLink {
  const sim = createSimulatedBleBindings({ peripherals: [options] })
  const peripheral = sim.peripheral(options.address)
  let noble: unknown
  return {
    address: peripheral.address.toUpperCase(),
    firmware: peripheral.firmware,
    peripheral,
    sim,
    async loadNoble<T>() {
      // One noble per adapter: a second one on the same bindings would see every event twice.
      noble ??= createNobleWithBindings(sim.bindings)
      return noble as T
    },
  }
}
