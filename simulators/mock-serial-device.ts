// A device at the other end of serialport's MockBinding: what the host writes
// reaches the device (asynchronously, as on a wire), what the device sends
// reaches the host's reads, and the cable can be pulled and plugged back. The
// reader firmware and the ZVT terminal simulators sit behind it; adapters get
// `binding` in place of the real one and run their production code.
// serialport's own MockBinding (the CJS build of @serialport/binding-mock):
// importing '@serialport/binding-mock' directly would give the ESM build,
// another module instance with its own ports, and it ships no ESM types.
import { SerialPortMock } from 'serialport'

const MockBinding = SerialPortMock.binding
export type MockBindingInterface = typeof SerialPortMock.binding
export type MockPortBinding = Awaited<ReturnType<MockBindingInterface['open']>>

export interface MockSerialDevice {
  /** Pass to the adapter (createSerialReader / createZvtTerminal `binding`) as the host's serial binding. */
  binding: MockBindingInterface
  path: string
  /** Is the host's end open right now? */
  readonly hostOpen: boolean
  /** Everything the host wrote since the device was made. */
  readonly recording: Buffer
  /** Bytes from the device to the host; lost, as on a real line, when nobody has the port open. */
  send(bytes: Uint8Array): void
  /** The cable is pulled: the host's reads fail, opening fails until replug(). */
  unplug(): void
  replug(): void
}

export interface MockSerialDeviceOptions {
  path: string
  /** What the host wrote, delivered after the write returned (never re-entering the host's write). */
  receive(bytes: Buffer): void
  /** The host opened the port (a board that resets on DTR greets here). */
  onOpen?(): void
  onUnplug?(): void
}

export function createMockSerialDevice(options: MockSerialDeviceOptions): MockSerialDevice {
  const { path } = options
  MockBinding.createPort(path, { echo: false, record: true })
  let current: MockPortBinding | null = null
  let unplugged = false
  let recording = Buffer.alloc(0)
  const pendingReads = new Set<(err: Error) => void>()

  function wrap(port: MockPortBinding): void {
    const write = port.write.bind(port)
    port.write = async (buffer: Buffer) => {
      if (unplugged) throw new Error('device unplugged')
      await write(buffer)
      const copy = Buffer.from(buffer)
      recording = Buffer.concat([recording, copy])
      setImmediate(() => {
        if (port.isOpen && !unplugged && current === port) options.receive(copy)
      })
    }
    const read = port.read.bind(port)
    port.read = (buffer: Buffer, offset: number, length: number) =>
      new Promise((resolve, reject) => {
        if (unplugged) return reject(new Error('device unplugged'))
        pendingReads.add(reject)
        read(buffer, offset, length)
          .then(resolve, reject)
          .finally(() => pendingReads.delete(reject))
      })
  }

  return {
    binding: {
      reset: () => MockBinding.reset(),
      createPort: (p, opt) => MockBinding.createPort(p, opt),
      list: () => MockBinding.list(),
      async open(openOptions) {
        if (unplugged) throw Object.assign(new Error(`Error: No such file or directory, cannot open ${openOptions.path}`), { code: 'ENOENT' })
        const port = await MockBinding.open(openOptions)
        wrap(port)
        current = port
        if (options.onOpen) setImmediate(options.onOpen)
        return port
      },
    },
    path,
    get hostOpen() {
      return current?.isOpen ?? false
    },
    get recording() {
      return recording
    },
    send(bytes) {
      if (current?.isOpen && !unplugged) current.emitData(Buffer.from(bytes))
    },
    unplug() {
      unplugged = true
      options.onUnplug?.()
      // A read error that is not a cancellation is how serialport learns a device went away:
      // it closes the port and emits 'close' with a DisconnectedError.
      for (const reject of pendingReads) reject(new Error('device unplugged'))
      pendingReads.clear()
    },
    replug() {
      unplugged = false
    },
  }
}
