// Keeps a kiosk from signing on a chain the gateway does not continue.
//
// After every start the kiosk asks the gateway where its chain ends (a
// ChainQuery on the query topic, answered on the reply topic) before it sends
// or resends anything; assessChain() compares. Intact: the outbox is sent as
// always. Damaged (an emptied, rolled-back or pruned outbox): nothing is sent,
// every transaction is refused with 'chain_recovery_required', the finding is
// kept in the outbox (it survives a restart) and shown in the state message
// (the gateway raises its own alert from the question), until an operator
// confirms: then the outbox goes on from the gateway's head (Outbox.rebase)
// and everything unanswered is sent. An entry the gateway answers with
// seq_conflict was never booked (the gateway looks ids up before seqs): it is
// signed again on the head (Outbox.requeue), once.
import type { Logger } from 'pino'
import type { ChainAnswer, Clock } from '../device-protocol/index.js'
import { assessChain, type ChainDamageReport, type GatewayHead } from './chain-check.js'
import { KioskError, ok, refusal, type Checked } from './kiosk-error.js'
import type { MqttLink } from './mqtt-link.js'
import type { Outbox, RebaseResult, Resign } from './outbox.js'

export type ChainStatus = 'unchecked' | 'intact' | 'recovery_required'

export interface ChainState {
  status: ChainStatus
  /** recovery_required: what was found. */
  damage?: ChainDamageReport
}

/** What an operator's confirmation did. */
export interface ChainRecovery {
  /** The damage that was confirmed. */
  damage: ChainDamageReport
  /** The gateway's head the chain now goes on from. */
  gatewayNextSeq: number
  /** The seq the kiosk signs next. */
  nextSeq: number
  /** Unanswered entries ahead of the gateway sent as they were, and those signed again on new seqs. */
  kept: number
  resigned: RebaseResult['resigned']
  /** Unanswered entries sent after the confirmation (below the gateway's head: answered by id). */
  sent: number
}

export interface ChainGuardOptions {
  outbox: Pick<Outbox, 'head' | 'pending' | 'answeredSeq' | 'rebase' | 'requeue' | 'chainDamage' | 'setChainDamage'>
  link: Pick<MqttLink, 'publishQuery' | 'publishTx' | 'resendPending' | 'isReady'>
  /** Signs an entry's transaction again on another seq/prev (same id and content). */
  resign: Resign
  clock: Clock
  logger: Logger
  newId: () => string
  /** How long to wait for the gateway's answer before asking again (or giving up, for a waiting operation). */
  answerTimeoutMs: number
  /** Called after every change of the state. */
  changed: () => void
}

export interface ChainGuard {
  state(): ChainState
  /** Whether entries may be published now (only on a chain the gateway confirmed). */
  maySend(): boolean
  /** The link is (again) connected: ask the gateway unless the chain was confirmed in this run. */
  onReady(): void
  handleAnswer(answer: ChainAnswer): void
  /**
   * Whether a transaction may be signed now: not while the chain waits for an
   * operator. Online and not yet checked, it first waits for the check (at most
   * answerTimeoutMs), so that a damaged chain is refused before the tap. An
   * unchecked chain may sign (offline, or the gateway is slow): nothing goes
   * out before the check, and the check or the recovery deals with it.
   */
  check(online: boolean): Promise<Checked<void>>
  /** The operator's confirmation: goes on from the gateway's head and sends the outbox. Throws KioskError. */
  confirm(): Promise<ChainRecovery>
  /** The gateway answered seq_conflict for an unanswered entry. */
  onSeqConflict(id: string): void
  stop(): void
}

export function createChainGuard(options: ChainGuardOptions): ChainGuard {
  const { outbox, link, clock, logger, newId, answerTimeoutMs, changed } = options
  const stored = outbox.chainDamage()
  let state: ChainState = stored ? { status: 'recovery_required', damage: stored } : { status: 'unchecked' }
  /** The question waiting for its answer, and who waits for it. */
  let asking: { requestId: string; timer: NodeJS.Timeout; settle: (answer: ChainAnswer | undefined) => void } | undefined
  let stopped = false
  const checkedWaiters = new Set<() => void>()
  /** Entries signed again after a seq_conflict: a second one means the head is behind after all. */
  const requeued = new Set<string>()
  let lastGateway: GatewayHead | undefined

  if (stored) logger.error({ ...stored }, 'the outbox is behind what the gateway booked: sales wait for an operator (POST /recovery/confirm)')

  function setState(next: ChainState): void {
    state = next
    for (const waiter of [...checkedWaiters]) waiter()
    changed()
  }

  /** Asks and resolves with the answer, or undefined after answerTimeoutMs (or when it cannot be asked). */
  function ask(): Promise<ChainAnswer | undefined> {
    asking?.settle(undefined)
    const requestId = newId()
    const head = outbox.head()
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), answerTimeoutMs)
      const settle = (answer: ChainAnswer | undefined) => {
        clearTimeout(timer)
        if (asking?.requestId === requestId) asking = undefined
        resolve(answer)
      }
      asking = { requestId, timer, settle }
      if (!link.publishQuery({ kind: 'chain', requestId, nextSeq: head.nextSeq, prev: head.prev })) settle(undefined)
    })
  }

  function damaged(report: ChainDamageReport): void {
    outbox.setChainDamage(report)
    logger.error({ ...report }, 'the outbox is behind what the gateway booked (emptied, rolled back or rows lost): sales wait for an operator (POST /recovery/confirm)')
    setState({ status: 'recovery_required', damage: report })
  }

  function assess(gateway: GatewayHead): ReturnType<typeof assessChain> {
    lastGateway = gateway
    return assessChain(outbox.head(), gateway, outbox.pending(), (seq) => outbox.answeredSeq(seq))
  }

  function sendAll(): number {
    return link.resendPending()
  }

  /** Asks until answered while connected and unchecked. */
  async function checkOnce(): Promise<void> {
    while (!stopped && state.status === 'unchecked' && link.isReady()) {
      const answer = await ask()
      if (!answer || stopped || state.status !== 'unchecked') continue
      const found = assess({ nextSeq: answer.nextSeq, lastHash: answer.lastHash })
      if (found.kind === 'damaged') {
        damaged({ reason: found.reason, localNextSeq: found.localNextSeq, gatewayNextSeq: found.gatewayNextSeq, missing: found.missing, detectedAt: clock.now() })
        return
      }
      if (found.kind === 'gateway_behind') {
        // Not this outbox's damage: the gateway lost what it answered; it asks for a resend and alerts.
        logger.error({ gatewayNextSeq: found.gatewayNextSeq }, 'the gateway is behind answers this kiosk recorded')
      }
      setState({ status: 'intact' })
      const sent = sendAll()
      logger.info({ nextSeq: outbox.head().nextSeq, gatewayNextSeq: answer.nextSeq, sent }, 'chain checked with the gateway')
      return
    }
  }

  return {
    state: () => ({ ...state }),
    maySend: () => state.status === 'intact',

    onReady() {
      if (state.status !== 'unchecked' || asking) return
      checkOnce().catch((err: Error) => logger.error({ err: err.message }, 'chain check failed'))
    },

    handleAnswer(answer) {
      if (!asking || asking.requestId !== answer.requestId) {
        logger.info({ requestId: answer.requestId }, 'chain answer nobody waits for (late)')
        return
      }
      asking.settle(answer)
    },

    async check(online) {
      if (state.status === 'unchecked' && online) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            checkedWaiters.delete(done)
            resolve()
          }
          const timer = setTimeout(done, answerTimeoutMs)
          checkedWaiters.add(done)
        })
      }
      if (state.status === 'recovery_required') {
        const d = state.damage
        return refusal(
          'chain_recovery_required',
          `this kiosk's outbox is behind what the gateway booked (${d?.reason ?? 'damaged'}: it would sign seq ${d?.localNextSeq ?? '?'}, the gateway expects ${d?.gatewayNextSeq ?? '?'}): an operator must confirm the recovery`,
        )
      }
      // Still unchecked (offline, or no answer yet): signing is safe, nothing goes out before the check.
      return ok(undefined)
    },

    async confirm() {
      if (state.status !== 'recovery_required' || !state.damage) throw new KioskError('no_chain_recovery', 'the chain of this kiosk matches the gateway: there is nothing to confirm')
      const damage = state.damage
      if (!link.isReady()) throw new KioskError('gateway_unreachable', 'the gateway is unreachable: a recovery goes on from its head, which it must tell')
      // A fresh head: the one found at the check may have moved since.
      const answer = await ask()
      if (!answer) throw new KioskError('gateway_unreachable', `the gateway did not tell its head within ${answerTimeoutMs} ms`)
      const gateway = { nextSeq: answer.nextSeq, lastHash: answer.lastHash }
      lastGateway = gateway
      const result = outbox.rebase(gateway, options.resign)
      outbox.setChainDamage(undefined)
      setState({ status: 'intact' })
      const sent = sendAll()
      const recovery: ChainRecovery = { damage, gatewayNextSeq: gateway.nextSeq, nextSeq: result.head.nextSeq, kept: result.kept, resigned: result.resigned, sent }
      logger.warn({ ...recovery, resigned: result.resigned.length }, 'chain recovery confirmed by an operator: the outbox goes on from the gateway\'s head')
      return recovery
    },

    onSeqConflict(id) {
      if (state.status !== 'intact' || !lastGateway) {
        // Kept unanswered: after the check or the recovery it goes out again.
        logger.warn({ id }, 'seq_conflict before the chain was confirmed: the entry waits')
        return
      }
      if (requeued.has(id)) {
        const head = outbox.head()
        damaged({ reason: 'seq_conflict', localNextSeq: head.nextSeq, gatewayNextSeq: lastGateway.nextSeq, missing: 0, detectedAt: clock.now() })
        return
      }
      const entry = outbox.requeue(id, options.resign)
      if (!entry) return
      requeued.add(id)
      logger.warn({ id, seq: entry.seq }, 'the gateway never booked this entry (seq_conflict): signed again on the head')
      if (state.status === 'intact') link.publishTx(entry.envelope)
      changed()
    },

    stop() {
      stopped = true
      asking?.settle(undefined)
      for (const waiter of [...checkedWaiters]) waiter()
    },
  }
}
