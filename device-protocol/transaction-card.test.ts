// The topup_card transaction type and its card-terminal reference.
import t from 'tap'
import { cardPaymentRef, signTransaction, validateEnvelope, type Transaction } from './transaction.js'
import { SALE_VECTOR, rfc8032TestKey } from './transaction-vectors.js'

const key = rfc8032TestKey()
const payment = { terminalId: '52500038', receiptNumber: '0042', traceNumber: '000123', maskedPan: '476173******0119', cardType: 'Visa' }
const cardTx: Transaction = { ...SALE_VECTOR.tx, type: 'topup_card', lines: [], amount: 2000, payment }

t.test('a topup_card with a terminal reference is a valid envelope; the reference is signed', async (t) => {
  t.ok(validateEnvelope(signTransaction(cardTx, key)).ok)
  const { maskedPan: _pan, cardType: _type, ...core } = payment
  t.ok(validateEnvelope(signTransaction({ ...cardTx, payment: core }, key)).ok, 'masked PAN and card type are optional')
  for (const pan of ['************0119', '4761XXXXXXXX0119', '****']) t.ok(validateEnvelope(signTransaction({ ...cardTx, payment: { ...payment, maskedPan: pan } }, key)).ok, pan)
  t.not(signTransaction(cardTx, key).sig, signTransaction({ ...cardTx, payment: { ...payment, traceNumber: '000124' } }, key).sig)
})

t.test('the schema refuses references that are malformed or carry a card number', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['full PAN', { ...payment, maskedPan: '4761739001010119' }],
    ['11 visible digits', { ...payment, maskedPan: '4761739***01119' }],
    ['PAN with letters', { ...payment, maskedPan: 'abcd****0119' }],
    ['empty terminal id', { ...payment, terminalId: '' }],
    ['space in receipt number', { ...payment, receiptNumber: '00 42' }],
    ['trace number too long', { ...payment, traceNumber: '1'.repeat(65) }],
    ['numeric trace number', { ...payment, traceNumber: 123 }],
    ['missing trace number', { terminalId: '1', receiptNumber: '2' }],
    ['extra field', { ...payment, expiry: '12/29' }],
    ['card type with a newline', { ...payment, cardType: 'Visa\n' }],
    ['card type too long', { ...payment, cardType: 'V'.repeat(33) }],
    ['not an object', 'ref'],
  ]
  for (const [name, value] of bad) {
    const result = validateEnvelope(signTransaction({ ...cardTx, payment: value } as never, key))
    t.notOk(result.ok, name)
  }
})

t.test('cardPaymentRef is unambiguous and ignores the optional parts', async (t) => {
  t.equal(cardPaymentRef(payment), cardPaymentRef({ terminalId: '52500038', receiptNumber: '0042', traceNumber: '000123' }))
  t.not(cardPaymentRef({ terminalId: 'a:b', receiptNumber: 'c', traceNumber: 'd' }), cardPaymentRef({ terminalId: 'a', receiptNumber: 'b:c', traceNumber: 'd' }))
  t.not(cardPaymentRef({ terminalId: '1', receiptNumber: '23', traceNumber: '4' }), cardPaymentRef({ terminalId: '12', receiptNumber: '3', traceNumber: '4' }))
})
