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
//
// Enrollment: the answer names the key the gateway checks this kiosk's
// signatures with. None, or another one than this kiosk's: 'not_enrolled',
// every transaction is refused before the tap (nothing is signed that the
// gateway would refuse unrecorded), and the kiosk asks again every
// enrollmentRecheckMs and before each operation, so an enrollment takes effect
// without a restart. An entry the gateway refused unrecorded anyway
// (unknown_kiosk, bad_signature: a key changed while running, or an outbox from
// before this check) voids its seq; the kiosk asks again, and once enrolled
// re-anchors on the gateway's head by itself when nothing but void or
// unanswered seqs lie between (chain-check.ts 're_anchor').
//
// A gateway restored from a backup lacks what it answered after the backup:
// its head is below seqs this kiosk has answers for ('gateway_behind' at the
// check, or a ResendRequest for an answered seq). The kiosk sends it the
// answered envelopes the outbox kept, from its head on, then the unanswered
// ones, in seq order and unchanged (same id, seq, prev and signature): the
// gateway books them as they were and the chain goes on. Their answers change
// nothing here (answers.ts: the first answer stands). When the outbox no longer
// keeps them all, nothing of that range is sent: the state names the missing
// seqs ('gateway_behind_unrecoverable') and an operator must act.
import type { Logger } from 'pino'
import type { ChainAnswer, Clock } from '../device-protocol/index.js'
import { assessChain, assessEnrollment, planGatewayResend, type ChainDamageReport, type GatewayHead } from './chain-check.js'
import { KioskError, ok, refusal, type Checked } from './kiosk-error.js'
import type { MqttLink } from './mqtt-link.js'
import type { Outbox, RebaseResult, Resign } from './outbox.js'

export type ChainStatus = 'unchecked' | 'intact' | 'recovery_required' | 'not_enrolled'

/** Why the gateway would refuse this kiosk's signatures, and what an operator does about it. */
export interface EnrollmentProblem {
  /** not_enrolled: the gateway has no key for this kiosk; other_key: it has another one. */
  reason: 'not_enrolled' | 'other_key'
  /** This kiosk's public key (base64url): the one to enroll. */
  publicKey: string
  /** other_key: the key the gateway holds. */
  gatewayKey?: string
  /** What to do, in words. */
  todo: string
}

/**
 * The gateway lacks envelopes this kiosk answered (restored from a backup) and
 * this kiosk no longer keeps them all: its next transactions wait behind the
 * gap at the gateway. The chain stays 'intact' (nothing here is damaged).
 */
export interface GatewayBehindProblem {
  reason: 'gateway_behind_unrecoverable'
  /** pruned: older than the kept window (keepAnswered*); not_chained: what is kept does not chain from the gateway's last envelope. */
  why: 'pruned' | 'not_chained'
  gatewayNextSeq: number
  /** The seqs the gateway lacks that this kiosk cannot send (inclusive). */
  missingFromSeq: number
  missingToSeq: number
  /** Kiosk clock, Unix ms. */
  detectedAt: number
  /** What to do, in words. */
  todo: string
}

export interface ChainState {
  status: ChainStatus
  /** recovery_required: what was found. */
  damage?: ChainDamageReport
  /** not_enrolled: what the gateway said. */
  enrollment?: EnrollmentProblem
  /** The gateway lacks answered envelopes this kiosk no longer keeps. */
  problem?: GatewayBehindProblem
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
  outbox: Pick<Outbox, 'head' | 'pending' | 'keptAnswered' | 'answeredSeq' | 'voidedSeq' | 'rebase' | 'requeue' | 'chainDamage' | 'setChainDamage'>
  link: Pick<MqttLink, 'publishQuery' | 'publishTx' | 'resendPending' | 'isReady'>
  /** Signs an entry's transaction again on another seq/prev (same id and content). */
  resign: Resign
  clock: Clock
  logger: Logger
  newId: () => string
  /** How long to wait for the gateway's answer before asking again (or giving up, for a waiting operation). */
  answerTimeoutMs: number
  kioskId: string
  /** This kiosk's public key, raw base64url: compared with the key the gateway says it checks. */
  publicKey: string
  /** While not enrolled, how often to ask the gateway again (default 10 s). */
  enrollmentRecheckMs?: number
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
  /**
   * The gateway refused an entry without recording it (chain-check.ts
   * UNRECORDED_REASONS; the answer is recorded, its seq is void): nothing more
   * is sent until the gateway has said again where the chain goes on.
   */
  onUnrecordedRefusal(seq: number, reason: string): void
  /**
   * The gateway asks for everything from `fromSeq` on (a gap). When that seq
   * was answered here (a restored gateway), the kept answered envelopes go out
   * with the unanswered ones; otherwise the unanswered ones. Returns how many.
   */
  onResendRequest(fromSeq: number): number
  stop(): void
}

/** What an operator does about an enrollment problem. */
export function enrollmentTodo(kioskId: string, reason: EnrollmentProblem['reason'], publicKey: string): string {
  const what = reason === 'not_enrolled' ? `the gateway has no public key for kiosk ${kioskId}` : `the gateway checks kiosk ${kioskId}'s signatures with another public key than the one this kiosk signs with`
  return (
    `${what}: enroll it with a registration code (wristpay-gateway kiosk code ${kioskId}, then on this kiosk ` +
    `wristpay-kiosk enroll --gateway URL --code CODE and restart it) or enroll ${publicKey} ` +
    `(PUT /admin/kiosks/${kioskId}/public-key {"publicKey":"${publicKey}"} with the admin token, or publicKey in the event file; ` +
    `the kiosk notices by itself); nothing is sold until then`
  )
}

export function createChainGuard(options: ChainGuardOptions): ChainGuard {
  const { outbox, link, clock, logger, newId, answerTimeoutMs, changed, kioskId, publicKey } = options
  const enrollmentRecheckMs = options.enrollmentRecheckMs ?? 10_000
  const stored = outbox.chainDamage()
  let state: ChainState = stored ? { status: 'recovery_required', damage: stored } : { status: 'unchecked' }
  /** The question waiting for its answer, and who waits for it. */
  let asking: { requestId: string; timer: NodeJS.Timeout; settle: (answer: ChainAnswer | undefined) => void } | undefined
  let stopped = false
  const checkedWaiters = new Set<() => void>()
  /** Entries signed again after a seq_conflict: a second one means the head is behind after all. */
  const requeued = new Set<string>()
  let lastGateway: GatewayHead | undefined
  /** The one check in progress (start, reconnect, enrollment re-check, an unrecorded refusal). */
  let checking: Promise<void> | undefined
  let recheckTimer: NodeJS.Timeout | undefined
  const needsCheck = () => state.status === 'unchecked' || state.status === 'not_enrolled'

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
    return assessChain(outbox.head(), gateway, outbox.pending(), (seq) => outbox.answeredSeq(seq), (seq) => outbox.voidedSeq(seq))
  }

  function sendAll(): number {
    return link.resendPending()
  }

  /**
   * Sends the gateway everything from `fromSeq` on: kept answered envelopes and
   * unanswered entries, in seq order, unchanged. Returns how many went out, or
   * undefined when they are not all kept (the state's problem says which).
   */
  function resendToGateway(fromSeq: number, gatewayLastHash?: string): number | undefined {
    const head = outbox.head()
    const unanswered = outbox.pending()
    const plan = planGatewayResend(fromSeq, head.nextSeq, outbox.keptAnswered({ fromSeq }), unanswered, gatewayLastHash)
    if (plan.kind === 'unrecoverable') {
      const { why, missingFromSeq, missingToSeq } = plan
      const todo =
        `the gateway lacks seqs ${missingFromSeq}..${missingToSeq} of kiosk ${kioskId}, which it answered before (a restore from an older backup?), ` +
        (why === 'pruned' ? 'and this kiosk no longer keeps them (older than its keepAnswered window)' : 'and the envelopes kept here do not chain from the gateway\'s last one') +
        `: this kiosk's transactions wait behind the gap; take it out of service, replace it with a kiosk with a new id and book the missing sales from the till's records`
      const known = state.problem
      if (known?.missingFromSeq !== missingFromSeq || known.missingToSeq !== missingToSeq || known.why !== why) {
        logger.error({ gatewayNextSeq: fromSeq, missingFromSeq, missingToSeq, why, localNextSeq: head.nextSeq }, `gateway_behind_unrecoverable: ${todo}`)
      }
      setState({ ...state, problem: { reason: 'gateway_behind_unrecoverable', why, gatewayNextSeq: fromSeq, missingFromSeq, missingToSeq, detectedAt: clock.now(), todo } })
      return undefined
    }
    // Unanswered entries below the gateway's head first (it answers them by id), then the plan: each seq once, in order.
    let sent = 0
    for (const entry of [...unanswered.filter((e) => e.seq < fromSeq), ...plan.entries]) if (link.publishTx(entry.envelope)) sent += 1
    const unansweredSeqs = new Set(unanswered.map((e) => e.seq))
    const answered = plan.entries.filter((e) => !unansweredSeqs.has(e.seq)).length
    logger.warn({ gatewayNextSeq: fromSeq, answered, unanswered: plan.entries.length - answered, sent }, 'the gateway lacks transactions this kiosk answered (restored from a backup?): sent again as they were signed')
    if (state.problem) {
      const solved: ChainState = { ...state }
      delete solved.problem
      setState(solved)
    }
    return sent
  }

  function notEnrolled(reason: EnrollmentProblem['reason'], gatewayKey: string | null | undefined): void {
    const enrollment: EnrollmentProblem = { reason, publicKey, todo: enrollmentTodo(kioskId, reason, publicKey) }
    if (reason === 'other_key' && typeof gatewayKey === 'string') enrollment.gatewayKey = gatewayKey
    // Once per finding, not at every re-check.
    if (state.status !== 'not_enrolled' || state.enrollment?.reason !== reason) logger.error({ reason, publicKey, gatewayKey }, `kiosk not enrolled: ${enrollment.todo}`)
    setState({ status: 'not_enrolled', enrollment })
    clearTimeout(recheckTimer)
    recheckTimer = setTimeout(() => {
      if (!stopped && state.status === 'not_enrolled' && link.isReady()) void runCheck()
    }, enrollmentRecheckMs)
    recheckTimer.unref?.()
  }

  /** Acts on the gateway's answer to a check. */
  function apply(answer: ChainAnswer): void {
    const enrollment = assessEnrollment(publicKey, answer.enrolledKey)
    if (enrollment === 'not_enrolled' || enrollment === 'other_key') {
      notEnrolled(enrollment, answer.enrolledKey)
      return
    }
    const gateway = { nextSeq: answer.nextSeq, lastHash: answer.lastHash }
    const found = assess(gateway)
    if (found.kind === 'damaged') {
      damaged({ reason: found.reason, localNextSeq: found.localNextSeq, gatewayNextSeq: found.gatewayNextSeq, missing: found.missing, detectedAt: clock.now() })
      return
    }
    if (found.kind === 're_anchor') {
      // Nothing between the two heads was booked: void seqs are given to the unanswered entries and the next sales.
      const result = outbox.rebase(gateway, options.resign)
      logger.warn({ gatewayNextSeq: gateway.nextSeq, voided: found.voided, resigned: result.resigned.length, nextSeq: result.head.nextSeq }, 'seqs refused unrecorded (not enrolled or another key) are void: the chain goes on from the gateway\'s head')
    }
    setState({ status: 'intact' })
    // Not this outbox's damage: the gateway lost what it answered (a restored backup). What is kept goes again, as it was.
    const sent = (found.kind === 'gateway_behind' ? resendToGateway(found.gatewayNextSeq, gateway.lastHash) : undefined) ?? sendAll()
    logger.info({ nextSeq: outbox.head().nextSeq, gatewayNextSeq: answer.nextSeq, sent }, 'chain checked with the gateway')
  }

  /** Asks until answered while connected and a check is needed. */
  async function checkOnce(): Promise<void> {
    while (!stopped && needsCheck() && link.isReady()) {
      const answer = await ask()
      if (!answer || stopped || !needsCheck()) continue
      apply(answer)
      return
    }
  }

  /** One check at a time: two would cancel each other's questions. */
  function runCheck(): Promise<void> {
    checking ??= checkOnce()
      .catch((err: Error) => logger.error({ err: err.message }, 'chain check failed'))
      .finally(() => {
        checking = undefined
      })
    return checking
  }

  /** Resolves at the next change of the state, or after answerTimeoutMs. */
  function nextState(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        checkedWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, answerTimeoutMs)
      checkedWaiters.add(done)
    })
  }

  return {
    state: () => ({ ...state }),
    maySend: () => state.status === 'intact',

    onReady() {
      if (needsCheck()) void runCheck()
    },

    handleAnswer(answer) {
      if (!asking || asking.requestId !== answer.requestId) {
        logger.info({ requestId: answer.requestId }, 'chain answer nobody waits for (late)')
        return
      }
      asking.settle(answer)
    },

    async check(online) {
      if (state.status === 'unchecked' && online) await nextState()
      else if (state.status === 'not_enrolled' && online) {
        // Enrolled since the last answer? Ask now rather than refuse on an old one.
        const changedState = nextState()
        void runCheck()
        await changedState
      }
      if (state.status === 'not_enrolled') {
        const e = state.enrollment
        return refusal('not_enrolled', `this kiosk is not enrolled: ${e?.todo ?? enrollmentTodo(kioskId, 'not_enrolled', publicKey)}`)
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

    onUnrecordedRefusal(seq, reason) {
      logger.error({ seq, reason }, 'the gateway refused a transaction without recording it: its seq is void; asking the gateway where the chain goes on')
      if (state.status === 'recovery_required') return
      if (state.status === 'intact') setState({ status: 'unchecked' })
      if (link.isReady()) void runCheck()
    },

    onResendRequest(fromSeq) {
      const head = outbox.head()
      const unanswered = outbox.pending({ fromSeq, limit: 1 })[0]?.seq === fromSeq
      // A seq this kiosk signed and holds no more as unanswered: answered, so the gateway lost its answer.
      // (A void seq, refused unrecorded, is the re-anchoring's business: the usual resend.)
      if (fromSeq >= head.nextSeq || unanswered || state.status !== 'intact' || outbox.voidedSeq(fromSeq)) return link.resendPending(fromSeq)
      // Not all kept: what follows the missing seqs would only wait behind the gap again (the gateway has alerted).
      return resendToGateway(fromSeq) ?? 0
    },

    stop() {
      stopped = true
      clearTimeout(recheckTimer)
      asking?.settle(undefined)
      for (const waiter of [...checkedWaiters]) waiter()
    },
  }
}
