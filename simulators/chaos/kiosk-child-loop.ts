// The request loop both child kiosks run: the chaos run's kiosk
// (kiosk-child.ts) and the growth bench's till (../load/till-child.ts). It
// reads the kiosk protocol (kiosk-protocol.ts) on stdin, one JSON object a
// line, handles the requests one at a time in order, as at a real till, and
// answers on stdout. How the guest taps is the caller's: the chaos kiosk uses
// the e2e harness, the till must not load it (it brings gateway modules along
// and would inflate the till's memory figure).
import { createInterface } from 'node:readline'
import type { KioskDaemon } from '../../daemon/app.js'
import { KioskError, type Outcome } from '../../daemon/kiosk.js'
import { CHAOS_PRODUCT, type KioskReply, type KioskRequest } from './kiosk-protocol.js'

export interface KioskChildLoopOptions {
  daemon: KioskDaemon
  /** The guest taps `uid` for the operation and takes the wristband away once it is answered. */
  tap(operation: Promise<Outcome>, uid: string): Promise<Outcome>
}

const send = (reply: KioskReply) => process.stdout.write(`${JSON.stringify(reply)}\n`)

/** Serves the kiosk protocol on stdin/stdout until the parent goes away, then ends the process. */
export function serveKioskChildRequests({ daemon, tap }: KioskChildLoopOptions): void {
  async function handle(request: KioskRequest): Promise<void> {
    if (request.op === 'status') {
      const status = daemon.status()
      send({ type: 'status', depth: daemon.outbox.depth(), connected: status.connected, chain: status.chain.status })
      return
    }
    if (request.op === 'answers') {
      const answers: Record<string, string> = {}
      for (const id of request.ids) {
        const record = daemon.outbox.answered(id)
        if (record) answers[id] = record.status
      }
      send({ type: 'answers', answers })
      return
    }
    const operation = request.op === 'topup' ? daemon.kiosk.topUp(request.amount) : daemon.kiosk.sale([{ product: CHAOS_PRODUCT, qty: 1, unitPrice: request.unitPrice }])
    try {
      const outcome = await tap(operation, request.uid)
      send({ type: 'outcome', n: request.n, status: outcome.status, id: outcome.id, seq: outcome.seq, amount: outcome.amount, ...(outcome.reason === undefined ? {} : { reason: outcome.reason }) })
    } catch (err) {
      send({ type: 'refused', n: request.n, error: err instanceof KioskError ? err.type : String((err as Error).message ?? err) })
    }
  }

  // One operation at a time, in order, as at a real till.
  let queue = Promise.resolve()
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === '') return
    const request = JSON.parse(line) as KioskRequest
    queue = queue.then(() => handle(request))
  })
  // The parent went away: a kiosk nobody drives is of no use.
  process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'))
  send({ type: 'ready' })
}
