// Starts and stops a real pcscd for tests of the PC/SC adapter against
// vsmartcard's virtual reader (vpcd), without scripts.
//
// Loopback only: Debian's vpcd (0.8) in server mode always binds 0.0.0.0, and
// its reverse mode (DEVICENAME host:port, vpcd connects out) aborts pcscd when
// the card connection drops ("bit out of range 0 - FD_SETSIZE", measured here),
// so neither can keep the virtual reader off the network. Instead pcscd runs in
// a private network namespace (unshare --net) that holds nothing but its own
// loopback: vpcd's port is unreachable from anywhere else, the host included.
// The card simulator reaches it through a Unix socket that socat, started in
// the same namespace, forwards to vpcd (file mode 0600: root only). PC/SC
// clients are unaffected: pcscd's own socket is a file, which namespaces do not
// hide.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const PCSCD_SOCKET_PATH = '/run/pcscd/pcscd.comm'
export const VPCD_DRIVER_PATH = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so'

/** Whether something accepts connections on pcscd's socket (a stale socket file left by a killed pcscd does not). */
export function probePcscd(socketPath = PCSCD_SOCKET_PATH, timeoutMs = 1_000): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false)
  return new Promise((resolve) => {
    const s = connect({ path: socketPath })
    const timer = setTimeout(() => finish(false), timeoutMs)
    function finish(ok: boolean): void {
      clearTimeout(timer)
      s.destroy()
      resolve(ok)
    }
    s.once('connect', () => finish(true))
    s.once('error', () => finish(false))
  })
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

export interface PcscTools {
  pcscd: boolean
  vpcdDriver: boolean
  /** unshare + ip + socat, and the right to use them: a private network namespace is possible. */
  isolation: boolean
}

/** What this machine offers for the real PC/SC tests. */
export function pcscTools(): PcscTools {
  const pcscd = onPath('pcscd') || existsSync('/usr/sbin/pcscd')
  const vpcdDriver = existsSync(VPCD_DRIVER_PATH)
  let isolation = false
  if (onPath('unshare') && onPath('ip') && onPath('socat')) {
    isolation = spawnSync('unshare', ['--net', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' }).status === 0
  }
  return { pcscd, vpcdDriver, isolation }
}

/** Where a card simulator reaches vpcd slot 0: a Unix socket (isolated pcscd) or loopback TCP. */
export type VpcdEndpoint = { path: string } | { host: string; port: number }

export interface PcscdHandle {
  /** True when this handle started pcscd (and stop() ends it); false when one was already running. */
  readonly started: boolean
  readonly isolated: boolean
  readonly vpcdEndpoint: VpcdEndpoint
  /** Ends the pcscd this handle started (with its socat bridge); a no-op for one it found running. */
  stop(): Promise<void>
}

export interface StartPcscdOptions {
  socketPath?: string
  vpcdPort?: number
  /** Folder for the bridge socket; pass the previous handle's to restart pcscd behind the same endpoint. */
  bridgeDir?: string
  /** Run pcscd in a private network namespace (default: when pcscTools().isolation). */
  isolate?: boolean
  readyTimeoutMs?: number
}

/**
 * Starts pcscd in the foreground as a child process unless one already
 * answers on its socket. Needs root (pcscd writes /run/pcscd).
 */
export async function startPcscd(options: StartPcscdOptions = {}): Promise<PcscdHandle> {
  const { socketPath = PCSCD_SOCKET_PATH, vpcdPort = 35963, readyTimeoutMs = 15_000 } = options
  if (await probePcscd(socketPath)) {
    return { started: false, isolated: false, vpcdEndpoint: { host: '127.0.0.1', port: vpcdPort }, stop: async () => {} }
  }
  const isolate = options.isolate ?? pcscTools().isolation
  const ownsBridgeDir = !options.bridgeDir
  const bridgeDir = options.bridgeDir ?? mkdtempSync(join(tmpdir(), 'wristpay-vpcd-'))
  const bridgePath = join(bridgeDir, 'vpcd-slot0.sock')
  rmSync(bridgePath, { force: true })

  let child: ChildProcess
  if (isolate) {
    // exec: pcscd replaces the shell, so the child is pcscd itself; socat stays in the same process group.
    const script = `ip link set lo up && socat UNIX-LISTEN:${bridgePath},fork,mode=600 TCP:127.0.0.1:${vpcdPort} & exec pcscd --foreground`
    child = spawn('unshare', ['--net', 'sh', '-c', script], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  } else {
    child = spawn('pcscd', ['--foreground'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  }
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000)
  })
  let exited = false
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())))
  child.once('error', () => {
    exited = true
  })

  async function stop(): Promise<void> {
    if (!exited && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM') // the process group: pcscd and its socat bridge
      } catch {
        // already gone
      }
      await exitPromise
    }
    if (isolate) {
      // socat may outlive pcscd by a moment; the group signal reached it too.
      if (ownsBridgeDir) rmSync(bridgeDir, { recursive: true, force: true })
    }
  }

  // Bounded wait for the daemon's socket.
  const attempts = Math.ceil(readyTimeoutMs / 100)
  for (let i = 0; i < attempts && !exited; i++) {
    if (await probePcscd(socketPath)) {
      if (!isolate || existsSync(bridgePath)) {
        return { started: true, isolated: isolate, vpcdEndpoint: isolate ? { path: bridgePath } : { host: '127.0.0.1', port: vpcdPort }, stop }
      }
    }
    await sleep(100)
  }
  await stop()
  throw new Error(`pcscd did not start within ${readyTimeoutMs} ms${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`)
}
