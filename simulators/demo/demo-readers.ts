// The demo's simulated wristband readers, one per kiosk, of the kind asked for:
// a serial reader board (serialport's mock binding), a BLE reader (noble with
// simulated bindings), or a PC/SC reader (the real nfc-pcsc through pcscd and
// vsmartcard's virtual reader, with a simulated card). Each gives the kiosk
// daemon a Reader and the simulated guest something to tap on.
import type { Logger } from 'pino'
import type { Reader } from '../../daemon/reader/reader.js'
import type { TagPresenter } from '../e2e/kiosk-harness.js'

export const READER_KINDS = ['serial', 'ble', 'pcsc'] as const
export type SimulatedReaderKind = (typeof READER_KINDS)[number]

export interface SimulatedReader {
  kind: SimulatedReaderKind
  reader: Reader
  presenter: TagPresenter
  close(): Promise<void>
}

export function parseReaderKinds(list: string): SimulatedReaderKind[] {
  const kinds = list.split(',').map((k) => k.trim())
  const unknown = kinds.filter((k) => !(READER_KINDS as readonly string[]).includes(k))
  if (kinds.length === 0 || unknown.length > 0) throw new Error(`--readers takes a comma-separated list of ${READER_KINDS.join(', ')}; got "${list}"`)
  return kinds as SimulatedReaderKind[]
}

/** What several PC/SC kiosks would share: one pcscd, and vpcd's one virtual reader slot. */
export interface PcscStack {
  claimed: boolean
  stop(): Promise<void>
}

export async function createSimulatedReader(
  kind: SimulatedReaderKind,
  options: { kioskId: string; index: number; logger: Logger; pcsc: () => Promise<PcscStack & { endpoint: { path: string } | { host: string; port: number } }> },
): Promise<SimulatedReader> {
  const { kioskId, index, logger } = options
  const device = { model: `wristpay-${kind}`, firmware: '1.0.0', serial: `SIM-${kioskId}` }
  if (kind === 'serial') {
    const { createMockReaderLink } = await import('../reader-firmware.js')
    const { createSerialReader } = await import('../../daemon/reader/serial-reader.js')
    const link = createMockReaderLink({ path: `/dev/ttyWRISTPAY-${kioskId}`, ...device })
    const reader = createSerialReader({ path: link.path, binding: link.binding, logger, ackTimeoutMs: 500, reconnectDelayMs: 500 })
    return { kind, reader, presenter: link.firmware, close: async () => {} }
  }
  if (kind === 'ble') {
    const { createSimulatedBleReaderLink } = await import('../ble-peripheral.js')
    const { createBleReader } = await import('../../daemon/reader/ble-reader.js')
    const address = `AA:BB:CC:DD:EE:${(index + 1).toString(16).padStart(2, '0').toUpperCase()}`
    const link = createSimulatedBleReaderLink({ address, ...device })
    const reader = createBleReader({ addresses: [link.address], logger, loadNoble: link.loadNoble, ackTimeoutMs: 500, reconnectDelayMs: 500 })
    return { kind, reader, presenter: link.firmware, close: async () => {} }
  }
  // PC/SC: the real stack. vpcd offers one virtual reader, so one PC/SC kiosk per demo.
  const stack = await options.pcsc()
  if (stack.claimed) throw new Error('the demo simulates one PC/SC reader (vpcd has one virtual slot): use pcsc for one kiosk only')
  stack.claimed = true
  const { startVpcdCard } = await import('../vpcd-card.js')
  const { createPcscReader } = await import('../../daemon/reader/pcsc-reader.js')
  const reader = createPcscReader({ logger, readerName: /Virtual PCD/ })
  const card = await startVpcdCard({ uid: '04000000000000', present: false, ...stack.endpoint, logger })
  return {
    kind,
    reader,
    // A tap puts a card with the guest's UID in the virtual reader's field.
    presenter: { present: (uid) => void card.insert(uid), remove: () => void card.remove() },
    close: () => card.close(),
  }
}

/** Starts pcscd (in a private network namespace when it can) the first time a PC/SC kiosk asks. */
export function lazyPcscStack(): { get: () => Promise<PcscStack & { endpoint: { path: string } | { host: string; port: number } }>; stop(): Promise<void> } {
  let started: Promise<PcscStack & { endpoint: { path: string } | { host: string; port: number } }> | undefined
  return {
    get() {
      started ??= (async () => {
        const { pcscTools, startPcscd } = await import('../pcscd.js')
        const tools = pcscTools()
        if (!tools.pcscd || !tools.vpcdDriver) throw new Error('a PC/SC reader needs pcscd and vsmartcard-vpcd (apt-get install pcscd vsmartcard-vpcd libpcsclite-dev)')
        const handle = await startPcscd()
        return { claimed: false, endpoint: handle.vpcdEndpoint, stop: () => handle.stop() }
      })()
      return started
    },
    async stop() {
      if (started) await (await started.catch(() => undefined))?.stop()
    },
  }
}
