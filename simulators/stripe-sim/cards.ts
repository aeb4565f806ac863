// Stripe's documented test cards: numbers, `tok_*` tokens and `pm_card_*`
// payment methods, and how each behaves when charged or saved.
// https://docs.stripe.com/testing

export interface CardDecline {
  code: string
  declineCode: string
  message: string
}

export interface TestCard {
  number: string
  brand: 'visa' | 'mastercard' | 'amex'
  /** Why a charge with this card fails; undefined means it succeeds. */
  decline?: CardDecline
  /** Saving (attach, setup intent) succeeds although charges fail (4000000000000341). */
  attachSucceeds?: boolean
}

const generic: CardDecline = { code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' }

const CARDS: Record<string, TestCard> = {
  visa: { number: '4242424242424242', brand: 'visa' },
  visa_debit: { number: '4000056655665556', brand: 'visa' },
  mastercard: { number: '5555555555554444', brand: 'mastercard' },
  amex: { number: '378282246310005', brand: 'amex' },
  chargeDeclined: { number: '4000000000000002', brand: 'visa', decline: generic },
  chargeDeclinedInsufficientFunds: {
    number: '4000000000009995',
    brand: 'visa',
    decline: { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  },
  chargeDeclinedLostCard: {
    number: '4000000000009987',
    brand: 'visa',
    decline: { code: 'card_declined', declineCode: 'lost_card', message: 'Your card was declined.' },
  },
  chargeDeclinedStolenCard: {
    number: '4000000000009979',
    brand: 'visa',
    decline: { code: 'card_declined', declineCode: 'stolen_card', message: 'Your card was declined.' },
  },
  chargeDeclinedExpiredCard: {
    number: '4000000000000069',
    brand: 'visa',
    decline: { code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
  },
  chargeDeclinedIncorrectCvc: {
    number: '4000000000000127',
    brand: 'visa',
    decline: { code: 'incorrect_cvc', declineCode: 'incorrect_cvc', message: "Your card's security code is incorrect." },
  },
  chargeDeclinedProcessingError: {
    number: '4000000000000119',
    brand: 'visa',
    decline: { code: 'processing_error', declineCode: 'processing_error', message: 'An error occurred while processing your card. Try again in a little bit.' },
  },
  chargeCustomerFail: { number: '4000000000000341', brand: 'visa', decline: generic, attachSucceeds: true },
}

const BY_NUMBER = new Map(Object.values(CARDS).map((card) => [card.number, card]))

/** `pm_card_visa`, `tok_chargeDeclined`, ... → the test card; undefined when not a test token. */
export function cardFromToken(token: string): TestCard | undefined {
  const match = /^(?:pm_card_|tok_)([A-Za-z_]+)$/.exec(token)
  return match ? CARDS[match[1] as string] : undefined
}

/** Any Luhn-valid number is accepted (it succeeds); Stripe's test numbers keep their behaviour. */
export function cardFromNumber(number: string): TestCard | undefined {
  const known = BY_NUMBER.get(number)
  if (known) return known
  if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) return undefined
  const brand = number.startsWith('4') ? 'visa' : number.startsWith('3') ? 'amex' : 'mastercard'
  return { number, brand }
}

function luhnValid(number: string): boolean {
  let sum = 0
  for (let i = 0; i < number.length; i += 1) {
    let digit = Number(number[number.length - 1 - i])
    if (i % 2 === 1) {
      digit *= 2
      if (digit > 9) digit -= 9
    }
    sum += digit
  }
  return sum % 10 === 0
}

export const DEFAULT_TERMINAL_CARD = CARDS.visa as TestCard
