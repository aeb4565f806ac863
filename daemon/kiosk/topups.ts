// Money at the cash desk: cash top-ups, card top-ups (the terminal charges the
// card, then a signed topup_card; card-topup.ts keeps the card payment
// records), cash-outs of the whole balance, and balance checks.
import { MAX_AMOUNT_CENTS } from '../../device-protocol/index.js'
import type { PaymentTerminal } from '../terminal/terminal.js'
import { createCardPaymentStore } from '../card-payments.js'
import { createCardReversals, type CardReversalCounters } from '../card-reversals.js'
import { CardResolveError, createCardTopUp, type CardCounters, type CardResolution, type CardTopUpHooks, type CardTopUpOutcome } from '../card-topup.js'
import { authorizeStaff, authorizeSupervisor } from '../staff-session.js'
import { effectiveProfile } from '../profile.js'
import { validAmount, type KioskCore } from './core.js'
import type { BalanceInfo, Outcome } from './types.js'

export interface TopUpOperations {
  topUp(amountCents: number): Promise<Outcome>
  cardTopUp(amountCents: number): Promise<CardTopUpOutcome>
  resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome>
  recoverCardPayments(): Promise<void>
  cashOut(): Promise<Outcome>
  checkBalance(): Promise<BalanceInfo>
  cardCounters(): CardCounters & CardReversalCounters
}

export interface TopUpOptions {
  /** The card terminal; without one card top-ups are refused with 'terminal_unavailable'. */
  terminal?: PaymentTerminal | undefined
  cardPaymentTimeoutMs?: number | undefined
  cardHooks?: CardTopUpHooks | undefined
}

export function createTopUpOperations(core: KioskCore, options: TopUpOptions): TopUpOperations {
  const { catalog, clock, kioskId, logger, newId, outbox, sessions } = core
  /** Staff of the card top-up in progress (the card flow appends on its own). */
  let cardStaff: string | undefined

  function checkTopUpAmount(amountCents: number): void {
    if (!validAmount(amountCents, 1)) core.refuse('invalid_amount', `a top-up amount must be a whole number of cents from 1 to ${MAX_AMOUNT_CENTS}`)
  }

  async function topUp(amountCents: number): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'topup_cash')
      const profile = effectiveProfile(config)
      if (!profile.topupCash) core.refuse('topup_not_allowed', `top-ups are not allowed at booth ${config.booth}`)
      checkTopUpAmount(amountCents)
      core.requireShiftFor(profile, 'a cash top-up')
      // Offline a cash top-up is signed and stays pending, as it always did: the guest gets the money once it is booked.
      return core.run({ type: 'topup_cash', lines: [], amount: amountCents, staff })
    })
  }

  async function cashOut(): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'cashout')
      const profile = effectiveProfile(config)
      if (!profile.cashout) core.refuse('cashout_not_allowed', `cash-outs are not allowed at booth ${config.booth}`)
      core.requireShiftFor(profile, 'a cash-out')
      core.requireOnline('a cash-out')
      core.requireOutboxRoomAndReader()
      await core.requireChain()
      const tag = await core.tap()
      const answer = await core.askBalance(tag.uid)
      if (answer.status === 'unknown_tag') core.refuseAfterTap('unknown_tag', 'the gateway does not know this wristband')
      if (answer.blocked) core.refuseAfterTap('tag_blocked', 'this wristband is blocked')
      const balance = answer.balance ?? 0
      if (balance <= 0) core.refuseAfterTap('nothing_to_pay_out', 'this wristband holds no money')
      // The whole balance; one transaction holds at most MAX_AMOUNT_CENTS (a second cash-out takes the rest).
      const amount = Math.min(balance, MAX_AMOUNT_CENTS)
      return core.sendAndAwait(core.append({ type: 'cashout', lines: [], amount, staff }, tag), amount)
    })
  }

  async function checkBalance(): Promise<BalanceInfo> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      // Not a transaction, but a staffed kiosk is used by logged-in staff only.
      if (config.staff !== undefined && !sessions.current()) core.refuse('not_logged_in', 'log in with a staff wristband first')
      core.requireOnline('a balance check')
      core.requireReader()
      const tag = await core.tap()
      const answer = await core.askBalance(tag.uid)
      if (answer.status === 'unknown_tag') core.refuseAfterTap('unknown_tag', 'the gateway does not know this wristband')
      core.count('balanceChecks')
      core.feedback(answer.blocked ? 'rejected' : 'accepted')
      core.changed()
      return {
        uid: answer.uid,
        balance: answer.balance ?? 0,
        vouchers: answer.vouchers ?? 0,
        blocked: answer.blocked ?? false,
        variant: answer.variant ?? null,
        debt: answer.debt ?? false,
        recent: answer.recent ?? [],
      }
    })
  }

  /**
   * A card payment recovered after a crash is booked by whoever is logged in
   * now (the session did not survive the restart), if their roles allow it.
   */
  function recoveryStaff(): string | undefined {
    const config = catalog.current()
    if (!config) return undefined
    const checked = authorizeStaff(config, sessions.current(), 'topup_card')
    return checked.ok ? checked.value : undefined
  }

  const card = createCardTopUp({
    kioskId,
    terminal: options.terminal,
    payments: createCardPaymentStore({ db: outbox.database, clock }),
    logger: logger.child({ part: 'card-topup' }),
    newId,
    ...(options.cardHooks ? { hooks: options.cardHooks } : {}),
    ...(options.cardPaymentTimeoutMs === undefined ? {} : { payTimeoutMs: options.cardPaymentTimeoutMs }),
    steps: {
      // Blocked wristbands are refused before the card is charged.
      waitForTag: core.tap,
      append: ({ tag, amount, payment }, within) => core.append({ type: 'topup_card', lines: [], amount, payment, staff: cardStaff ?? recoveryStaff() }, tag, within),
      sendAndAwait: core.sendAndAwait,
      sendInBackground: core.sendInBackground,
      feedback: core.feedback,
      setAbort: core.setAbort,
      changed: core.changed,
    },
  })

  // A paid card top-up the gateway refuses is reversed at the terminal, once (card-reversals.ts).
  const reversals = createCardReversals({ db: outbox.database, clock, terminal: options.terminal, logger: logger.child({ part: 'card-reversal' }), changed: core.changed })
  reversals.recover()
  core.onCardTopUpRefused((tx, reason) => void reversals.refused(tx, reason))

  /** What the cashier reads about a refused top-up: whether the card payment went back. */
  async function withReversal(outcome: CardTopUpOutcome): Promise<CardTopUpOutcome> {
    if (outcome.status !== 'rejected' || outcome.id === undefined) return outcome
    const reversal = await reversals.settled(outcome.id)
    if (reversal?.state === 'reversed') return { ...outcome, message: 'refused, card payment reversed' }
    return { ...outcome, message: `refused, card payment NOT reversed (${reversal?.state ?? 'not started'}): a supervisor must refund it` }
  }

  async function cardTopUp(amountCents: number): Promise<CardTopUpOutcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'topup_card')
      if (!effectiveProfile(config).topupCard) core.refuse('topup_not_allowed', `top-ups are not allowed at booth ${config.booth}`)
      checkTopUpAmount(amountCents)
      if (!card.terminalReady()) core.refuse('terminal_unavailable', 'no card terminal is connected to this kiosk')
      // A payment left open must be settled first: the terminal can only tell about its last one.
      if (card.unresolvedCount() > 0) await card.recover()
      const unresolved = card.unresolvedCount()
      if (unresolved > 0) core.refuse('card_payment_unresolved', `${unresolved} card payment(s) with unknown outcome: a supervisor must resolve it before the next card top-up`)
      core.requireOutboxRoomAndReader()
      await core.requireChain()
      cardStaff = staff
      try {
        return await withReversal(await card.take(amountCents))
      } finally {
        cardStaff = undefined
      }
    })
  }

  async function resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome> {
    return core.exclusive(async () => {
      const config = catalog.current()
      if (config) core.must(authorizeSupervisor(config, sessions.current()))
      try {
        return await card.resolve(resolution)
      } catch (err) {
        if (err instanceof CardResolveError) core.refuse(err.type, err.message)
        throw err
      }
    })
  }

  async function recoverCardPayments(): Promise<void> {
    if (core.isStopped() || core.isBusy() || card.unresolvedCount() === 0) return
    // A locked kiosk still settles card payments the guest has already made.
    await core.exclusive(() => card.recover(), { evenWhenLocked: true })
  }

  return { topUp, cardTopUp, resolveCardPayment, recoverCardPayments, cashOut, checkBalance, cardCounters: () => ({ ...card.counters(), ...reversals.counters() }) }
}
