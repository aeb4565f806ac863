// The hosted payment page the intent's `url` points to (`/pay/{intent id}`):
// the guest's browser opens it without an API key. Three buttons: pay (a
// frictionless card payment), pay with a 3-D Secure challenge (a second page
// where the guest passes or fails the challenge), and a declined card. A paid
// intent redirects (303) to its return_url; a refusal shows the page again,
// with the reason, so the guest can try again.
import type { PaymentIntent } from './state.js'

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
}

/** Integer cents as "12.34 EUR" (display only). */
function formatAmount(amountCents: number, currency: string): string {
  return `${Math.floor(amountCents / 100)}.${String(amountCents % 100).padStart(2, '0')} ${currency.toUpperCase()}`
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${escapeHtml(title)}</title></head><body><main>${body}</main></body></html>`
}

function button(action: string, label: string): string {
  return `<form method="post" action="${escapeHtml(action)}"><button type="submit">${escapeHtml(label)}</button></form>`
}

export function renderPaymentPage(intent: PaymentIntent, notice?: string): string {
  const base = `/pay/${intent.id}`
  const header =
    `<h1>Pay ${escapeHtml(formatAmount(intent.amount, intent.currency))}</h1>` +
    (intent.description ? `<p>${escapeHtml(intent.description)}</p>` : '') +
    (notice ? `<p role="alert">${escapeHtml(notice)}</p>` : '')
  if (intent.status === 'require_payment_method') {
    return page('Payment', header +
      `<p data-status="${intent.status}">Test card 4242 4242 4242 4242</p>` +
      button(`${base}/pay`, 'Pay') + button(`${base}/challenge`, 'Pay with 3-D Secure') + button(`${base}/decline`, 'Pay with a declined card'))
  }
  if (intent.status === 'require_authentication') {
    return page('Payment', header + `<p data-status="${intent.status}"><a href="${base}/3ds">Continue to 3-D Secure</a></p>`)
  }
  const back = intent.return_url ? `<p><a href="${escapeHtml(intent.return_url)}">Back to the shop</a></p>` : ''
  return page('Payment', header + `<p data-status="${intent.status}">This payment is ${escapeHtml(intent.status)}.</p>${back}`)
}

export function renderChallengePage(intent: PaymentIntent): string {
  const base = `/pay/${intent.id}/3ds`
  return page('3-D Secure', `<h1>3-D Secure</h1><p>Confirm the payment of ${escapeHtml(formatAmount(intent.amount, intent.currency))} in your banking app.</p>` +
    button(`${base}/pass`, 'Confirm') + button(`${base}/fail`, 'Fail the challenge'))
}

export function renderNotFoundPage(): string {
  return page('Not found', '<p>No such payment.</p>')
}
