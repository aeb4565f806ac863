// The kiosk's side of the answers: the gateway's results, balance answers,
// chain answers and resend requests, routed to whoever waits for them. An
// answer is recorded in the outbox whether or not anybody still waits (late
// answers count); one this kiosk cannot place changes nothing.
import type { Logger } from 'pino'
import type { BalanceAnswer, ReplyMessage, Transaction, TxResult } from '../../device-protocol/index.js'
import { OutboxStorageError, type Outbox } from '../outbox.js'
import { KioskError } from '../kiosk-error.js'
import type { ChainGuard } from '../chain-guard.js'
import { isUnrecordedRefusal } from '../chain-check.js'
import type { CoreCounters } from './core.js'
import type { KioskLink } from './types.js'

export interface AnswersOptions {
  outbox: Outbox
  link: KioskLink
  chain: ChainGuard
  logger: Logger
  newId: () => string
  replyTimeoutMs: number
  tally(counter: keyof CoreCounters): void
  changed(): void
  /** Every transaction the gateway accepts (late answers too), before its waiter hears of it. */
  accepted(tx: Transaction): void
  /** What stop() ends while an answer is awaited. */
  setAbort(abort: ((reason: 'stopped') => void) | undefined): void
  /** An answer could not be recorded (the outbox's storage failed): its entry stays pending. */
  storageFailed(err: OutboxStorageError): void
  /** The gateway refused a topup_card whose card payment the terminal had approved (first answer only). */
  cardTopUpRefused?(tx: Transaction, reason: string): void
}

export interface Answers {
  /** Resolves with the answer, or undefined when none came in time (or the kiosk stops). Register before publishing. */
  waitForReply(id: string): Promise<TxResult | undefined>
  /** Asks the gateway about a wristband; gateway_unreachable when it cannot be asked or does not answer in time. */
  askBalance(uid: string): Promise<BalanceAnswer>
  /** An entry sent without anybody waiting (recovered card payments): its answer is not a "late" one. */
  expectUnwaited(id: string): void
}

export function createAnswers(options: AnswersOptions): Answers {
  const { outbox, link, chain, logger, newId, replyTimeoutMs, tally, changed, accepted, setAbort, storageFailed, cardTopUpRefused } = options
  /** Operations waiting for the answer to their transaction id. */
  const waiters = new Map<string, (result: TxResult) => void>()
  /** Balance checks waiting for their answer, by requestId. */
  const queryWaiters = new Map<string, { uid: string; settle: (answer: BalanceAnswer) => void }>()
  /** Sent without anybody waiting (recovered card payments): their answer is not a "late" one. */
  const unwaited = new Set<string>()

  /** Resolves with the answer, or undefined when none came in time (or the kiosk stops). */
  function waitForReply(id: string): Promise<TxResult | undefined> {
    return new Promise<TxResult | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), replyTimeoutMs)
      const done = (result: TxResult | undefined) => {
        clearTimeout(timer)
        waiters.delete(id)
        setAbort(undefined)
        resolve(result)
      }
      waiters.set(id, done)
      setAbort(() => done(undefined))
    })
  }

  function askBalance(uid: string): Promise<BalanceAnswer> {
    const requestId = newId()
    return new Promise<BalanceAnswer>((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer)
        queryWaiters.delete(requestId)
        setAbort(undefined)
        settle()
      }
      const timer = setTimeout(() => done(() => reject(new KioskError('gateway_unreachable', `the gateway did not answer the balance query within ${replyTimeoutMs} ms`))), replyTimeoutMs)
      queryWaiters.set(requestId, { uid, settle: (answer) => done(() => resolve(answer)) })
      setAbort(() => done(() => reject(new KioskError('stopped', 'the kiosk is stopping'))))
      if (!link.publishQuery({ kind: 'balance', requestId, uid })) done(() => reject(new KioskError('gateway_unreachable', 'the gateway is unreachable')))
    })
  }

  function handleResult(result: TxResult): void {
    // Not booked (the gateway looks ids up before seqs): not an answer to record, but a seq to move.
    if (result.status === 'rejected' && result.reason === 'seq_conflict' && outbox.get(result.id) !== undefined) {
      chain.onSeqConflict(result.id)
      return
    }
    let marked: ReturnType<Outbox['markAnswered']>
    try {
      marked = outbox.markAnswered(result.id, result)
    } catch (err) {
      // Not recorded: the entry stays pending, is sent again and answered again once the outbox takes writes.
      if (!(err instanceof OutboxStorageError)) throw err
      storageFailed(err)
      return
    }
    if (marked.outcome === 'unknown') {
      tally('unknownReplies')
      logger.warn({ id: result.id, seq: result.seq }, 'answer for a transaction this kiosk does not know')
      changed()
      return
    }
    if (marked.outcome === 'duplicate') {
      // The screen and the history keep the first answer. A different one means the gateway's books now say
      // something else (a restored gateway booked a resent envelope another way): an operator must look.
      const first = marked.record
      const fields = { id: result.id, seq: first.seq, first: { status: first.status, reason: first.reason, balance: first.balance }, now: { status: result.status, reason: result.reason, balance: result.balance } }
      if (first.status !== result.status || (first.reason ?? null) !== (result.reason ?? null)) {
        tally('conflictingReplies')
        logger.error(fields, 'gateway answered one transaction twice differently (its books now say something else); the first answer stands')
        changed()
      } else if (first.balance !== undefined && result.balance !== undefined && first.balance !== result.balance) {
        logger.warn(fields, 'gateway answered one transaction again with another balance (booked again after a restore, in another order); the first answer stands')
      }
      return
    }
    const tx = marked.entry.envelope.tx
    if (marked.entry.seq !== result.seq) logger.warn({ id: result.id, seq: marked.entry.seq, replySeq: result.seq }, 'answer names another seq than the transaction')
    if (result.status === 'accepted') {
      tally('accepted')
      accepted(tx)
    } else tally('rejected')
    if (result.status === 'rejected' && tx.type === 'topup_card') {
      tally('cardTopUpsRefused')
      // The card was charged and the gateway booked nothing: the guest must get the money back at the terminal.
      logger.error({ id: result.id, seq: marked.entry.seq, reason: result.reason, amount: tx.amount }, 'gateway refused a paid card top-up: reversing it at the terminal')
      cardTopUpRefused?.(tx, result.reason ?? 'rejected')
    }
    if (result.debt) logger.warn({ id: result.id, seq: marked.entry.seq, uid: tx.tag.uid }, 'an offline sale left a debt on the wristband')
    // Recorded as refused (the cashier sees the refusal, it is never sent again), but the gateway's cursor did not move.
    if (isUnrecordedRefusal(result)) chain.onUnrecordedRefusal(marked.entry.seq, result.reason ?? '')
    const waiter = waiters.get(result.id)
    if (waiter) waiter(result)
    else if (unwaited.delete(result.id)) logger.info({ id: result.id, seq: marked.entry.seq, status: result.status }, 'answer recorded')
    else {
      tally('lateAnswers')
      logger.info({ id: result.id, seq: marked.entry.seq, status: result.status }, 'late answer recorded')
    }
    changed()
  }

  function handleBalance(answer: BalanceAnswer): void {
    const waiter = queryWaiters.get(answer.requestId)
    if (!waiter) {
      tally('unknownReplies')
      logger.info({ requestId: answer.requestId }, 'balance answer nobody waits for (late or foreign)')
      changed()
      return
    }
    if (answer.uid !== waiter.uid || (answer.status === 'ok' && answer.balance === undefined)) {
      // Not the answer to this question: keep waiting (the timeout ends it) rather than show a wrong balance.
      tally('badBalanceAnswers')
      logger.warn({ requestId: answer.requestId, status: answer.status }, 'unusable balance answer ignored')
      changed()
      return
    }
    waiter.settle(answer)
  }

  function handleReply(reply: ReplyMessage): void {
    if (reply.kind === 'result') {
      handleResult(reply)
      return
    }
    if (reply.kind === 'balance') {
      handleBalance(reply)
      return
    }
    if (reply.kind === 'chain') {
      chain.handleAnswer(reply)
      return
    }
    tally('resendRequests')
    const { nextSeq } = outbox.head()
    if (reply.fromSeq >= nextSeq) logger.warn({ fromSeq: reply.fromSeq, nextSeq }, 'gateway asks for transactions this kiosk never made')
    const first = outbox.pending({ limit: 1 })[0]
    if (first && first.seq > reply.fromSeq) {
      // Those seqs were answered here: the gateway has lost what it had answered. Say so loudly.
      logger.error({ fromSeq: reply.fromSeq, firstPending: first.seq }, 'gateway asks for transactions it already answered')
    }
    // The chain guard decides: answered seqs (a restored gateway) go again from the kept envelopes.
    const count = chain.onResendRequest(reply.fromSeq)
    logger.info({ fromSeq: reply.fromSeq, count }, 'resend requested by the gateway')
    changed()
  }

  link.onReply((reply) => {
    try {
      handleReply(reply)
    } catch (err) {
      // A database error here must not kill the daemon; the entry stays pending and is resent.
      logger.error({ err }, 'handling a reply failed')
    }
  })


  return { waitForReply, askBalance, expectUnwaited: (id) => void unwaited.add(id) }
}
