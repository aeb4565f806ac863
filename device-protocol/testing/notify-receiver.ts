// Test code only: a stand-in for systemd's notify socket. socat binds a unix
// datagram socket and prints every datagram it gets (READY=1, WATCHDOG=1, ...),
// so a test hands its path to a daemon as NOTIFY_SOCKET and reads what arrived.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface NotifyReceiver {
  /** The socket's path: the NOTIFY_SOCKET to give. */
  readonly path: string
  /** Everything received so far (socat prints the datagrams back to back). */
  received(): string
  /** Resolves once `text` has arrived; rejects after timeoutMs. */
  waitFor(text: string, timeoutMs?: number): Promise<void>
  close(): void
}

export async function startNotifyReceiver(): Promise<NotifyReceiver> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-notify-'))
  const path = join(dir, 'notify.sock')
  const socat = spawn('socat', ['-u', `UNIX-RECV:${path}`, '-'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let received = ''
  socat.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()))
  const close = () => {
    socat.kill()
    rmSync(dir, { recursive: true, force: true })
  }
  const waitFor = async (condition: () => boolean, what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (socat.exitCode !== null) throw new Error(`socat exited (${socat.exitCode}) before ${what}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(received)}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  try {
    await waitFor(() => existsSync(path), 'its socket', 10_000)
  } catch (err) {
    close()
    throw err
  }
  return { path, received: () => received, waitFor: (text, timeoutMs = 30_000) => waitFor(() => received.includes(text), text, timeoutMs), close }
}
