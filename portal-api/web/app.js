// The guest portal page: log in with the wristband PIN, balance, orders with
// receipts, online top-up, refund to the card, payout registration, donate all, log out. Talks only
// to the portal API (customer-portal-openapi.json) on the same origin; money
// arrives there as numbers with two decimals and is handled here as integer
// cents wherever it is computed with. Every text from the server is put in the
// page with textContent, never as HTML.

const API_BASE = (document.querySelector('meta[name="wristpay-api-base"]')?.getAttribute('content') ?? '/api').replace(/\/+$/, '')
/** Per tab, gone when the tab closes; survives the trip to the payment provider and back. */
const TOKEN_KEY = 'wristpay.portal.token'
const PENDING_CHECKOUT_KEY = 'wristpay.portal.pendingCheckout'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const CHECKOUT_ID = /^[A-Za-z0-9_-]{1,128}$/
/** Polling a checkout: about a minute in all, then the guest can check again by hand. */
const CHECKOUT_POLL_ATTEMPTS = 25
const CHECKOUT_POLL_DELAYS_MS = [1000, 1500, 2000, 3000]

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

const state = {
  config: /** @type {any} */ (null),
  customer: /** @type {any} */ (null),
  /** What can go back to the card now (two-decimal amount). */
  cardRefundable: 0,
  currency: 'EUR',
}

// ---------------------------------------------------------------------------
// Talking to the API

class ApiError extends Error {
  /** @param {number} status @param {string} type @param {string} message */
  constructor(status, type, message) {
    super(message)
    this.status = status
    this.type = type
  }
}

/** The server's own words when it gave some (our `{type,id,message}` or FastAPI's `{detail}`), else undefined. */
function serverMessage(body) {
  if (body && typeof body.message === 'string' && body.message.length <= 300) return body.message
  if (body && typeof body.detail === 'string' && body.detail.length <= 300) return body.detail
  if (body && Array.isArray(body.detail) && typeof body.detail[0]?.msg === 'string') return body.detail[0].msg
  return undefined
}

function plainMessage(status, body) {
  if (status === 429) return 'Too many attempts. Please wait a minute and try again.'
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.'
  return serverMessage(body) ?? `The request was refused (${status}).`
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' }
  const token = sessionStorage.getItem(TOKEN_KEY)
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response
  try {
    response = await fetch(API_BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.')
  }
  const text = await response.text()
  let data = null
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      data = null
    }
  }
  if (!response.ok) throw new ApiError(response.status, typeof data?.type === 'string' ? data.type : `http_${response.status}`, plainMessage(response.status, data))
  return data
}

/** An authorised call failed because the session is gone (logged out elsewhere, expired, revoked). */
function isSessionEnded(err) {
  return err instanceof ApiError && (err.status === 401 || err.status === 403)
}

// ---------------------------------------------------------------------------
// Money

function formatMoney(amount) {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) return '–'
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: state.currency }).format(amount)
  } catch {
    return `${amount.toFixed(2)} ${state.currency}`
  }
}

/** What a guest types ("20", "12.5", "12,50") to integer cents; null when it is not an amount. */
function parseAmountCents(text) {
  const match = /^(\d{1,7})(?:[.,](\d{1,2}))?$/.exec(String(text).trim())
  if (!match) return null
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'))
}

/** Integer cents to the two-decimal number the API expects. */
const centsToAmount = (cents) => cents / 100
const amountToCents = (amount) => Math.round(amount * 100)

// ---------------------------------------------------------------------------
// Messages and views

function showError(message, field) {
  const box = $('error')
  box.textContent = message
  box.hidden = false
  if (field) {
    field.setAttribute('aria-invalid', 'true')
    field.focus()
  }
}

function showNotice(message) {
  const box = $('notice')
  box.textContent = message
  box.hidden = false
}

function clearMessages() {
  for (const id of ['error', 'notice']) {
    $(id).hidden = true
    $(id).textContent = ''
  }
  for (const field of document.querySelectorAll('[aria-invalid="true"]')) field.removeAttribute('aria-invalid')
}

function showView(name) {
  $('loading').hidden = true
  for (const view of ['login-view', 'account-view', 'bon-view']) $(view).hidden = view !== `${name}-view`
}

/** Runs an action with its button disabled, so a double tap does not send it twice. */
async function busy(button, action) {
  if (button.disabled) return
  button.disabled = true
  try {
    await action()
  } finally {
    button.disabled = false
  }
}

function sessionEnded(message = 'Your session has ended. Please log in again.') {
  sessionStorage.removeItem(TOKEN_KEY)
  state.customer = null
  showLogin()
  showError(message)
}

function showLogin() {
  showView('login')
  const pin = /** @type {HTMLInputElement} */ ($('pin'))
  pin.value = ''
  pin.focus()
}

// ---------------------------------------------------------------------------
// Config (public)

async function loadConfig() {
  try {
    const config = await api('GET', `/config?base_url=${encodeURIComponent(location.origin + location.pathname)}`)
    state.config = config
    if (typeof config?.currency_identifier === 'string' && /^[A-Z]{3}$/.test(config.currency_identifier)) state.currency = config.currency_identifier
    for (const el of document.querySelectorAll('.currency-code')) el.textContent = state.currency
    if (typeof config?.event_name === 'string' && config.event_name) {
      $('event-name').textContent = config.event_name
      document.title = `${config.event_name}: your wristband`
    }
    if (config?.test_mode) {
      $('test-mode').textContent = config.test_mode_message || 'Test mode: no real money is moved.'
      $('test-mode').hidden = false
    }
    setLink('privacy-link', config?.data_privacy_url)
    setLink('about-link', config?.about_page_url)
    if (typeof config?.contact_email === 'string' && /^[^\s@<>"]+@[^\s@<>"]+$/.test(config.contact_email)) {
      setLink('contact-link', `mailto:${config.contact_email}`)
    }
  } catch {
    // The page works without it: defaults (EUR, no links) stand.
  }
}

/** Only http(s) and mailto links from the config: never `javascript:`. */
function setLink(id, url) {
  if (typeof url !== 'string' || !/^(https?:\/\/|mailto:)/i.test(url)) return
  const link = /** @type {HTMLAnchorElement} */ ($(id))
  link.href = url
  link.hidden = false
  if (!url.startsWith('mailto:')) link.rel = 'noopener noreferrer'
}

// ---------------------------------------------------------------------------
// Log in and out

async function logIn(event) {
  event.preventDefault()
  clearMessages()
  const pinField = /** @type {HTMLInputElement} */ ($('pin'))
  const pin = pinField.value.trim()
  if (!pin) return showError('Please enter the PIN from your wristband card.', pinField)
  const button = /** @type {HTMLButtonElement} */ (event.submitter ?? $('login-form').querySelector('button'))
  await busy(button, async () => {
    try {
      const reply = await api('POST', '/auth/login', { pin })
      if (typeof reply?.access_token !== 'string') throw new ApiError(500, 'bad_reply', 'Something went wrong on our side. Please try again in a moment.')
      sessionStorage.setItem(TOKEN_KEY, reply.access_token)
      pinField.value = ''
      await loadAccount()
      $('main').focus()
      if (state.customer) void followCheckout()
    } catch (err) {
      // An unknown PIN answers 404 (as the OpenAPI file says); a blocked wristband (403) shows the server's words.
      if (err instanceof ApiError && [400, 404, 422].includes(err.status)) {
        showError('This PIN is not known. Check the PIN on your wristband card and try again.', pinField)
      } else {
        showError(err.message, pinField)
      }
    }
  })
}

async function logOut() {
  clearMessages()
  await busy(/** @type {HTMLButtonElement} */ ($('logout')), async () => {
    // The token stops working on the server; forget it here whatever the answer.
    await api('POST', '/auth/logout').catch(() => undefined)
    sessionStorage.removeItem(TOKEN_KEY)
    sessionStorage.removeItem(PENDING_CHECKOUT_KEY)
    state.customer = null
    showLogin()
    showNotice('You are logged out.')
  })
}

// ---------------------------------------------------------------------------
// The account

async function loadAccount() {
  try {
    const [customer, orders] = await Promise.all([api('GET', '/customer'), api('GET', '/orders_with_bon')])
    state.customer = customer
    renderCustomer(customer)
    renderOrders(Array.isArray(orders) ? orders : [])
    showView('account')
  } catch (err) {
    if (isSessionEnded(err)) return sessionEnded()
    throw err
  }
  // Payout details and bank transfer details are extra: the account shows without them.
  await loadPayout().catch(() => undefined)
  await loadBankTransfer().catch(() => undefined)
  await loadCardRefunds().catch(() => undefined)
}

const CARD_REFUND_STATES = { pending: 'on its way', refunded: 'refunded', partly_refused: 'partly refused', refused: 'refused' }

/** What can go back to the card and the refunds asked for; the section stays hidden when the event offers none (404). */
async function loadCardRefunds() {
  $('card-refund-section').hidden = true
  const listed = await api('GET', '/customer/card_refund')
  if (typeof listed?.refundable !== 'number' || !Array.isArray(listed.refunds)) return
  state.cardRefundable = listed.refundable
  $('card-refund-max').textContent = formatMoney(listed.refundable)
  $('card-refund-form').hidden = listed.refundable <= 0
  $('card-refund-hint').hidden = listed.refundable <= 0
  const list = $('card-refunds')
  list.replaceChildren()
  for (const refund of listed.refunds) {
    const item = element('li', '', `${formatDateTime(refund.created_at)}: ${formatMoney(refund.amount)} ${CARD_REFUND_STATES[refund.state] ?? ''}`)
    // A refused part's money is back on the wristband; the provider's reason says why.
    for (const part of Array.isArray(refund.parts) ? refund.parts : [])
      if (part?.state === 'refused') item.append(element('p', 'meta', `${formatMoney(part.amount)} could not go back to the card and is on your wristband again: ${String(part.reason ?? '')}`))
    list.append(item)
  }
  $('card-refund-section').hidden = listed.refundable <= 0 && listed.refunds.length === 0
}

async function askCardRefund(event) {
  event.preventDefault()
  clearMessages()
  const input = /** @type {HTMLInputElement} */ ($('card-refund-amount'))
  const cents = input.value.trim() === '' ? undefined : parseAmountCents(input.value)
  if (cents === null || cents === 0) return showError('Please enter an amount like 5 or 2.50, or leave it empty for all of it.', input)
  if (cents !== undefined && cents > amountToCents(state.cardRefundable ?? 0)) return showError(`At most ${formatMoney(state.cardRefundable)} can go back to your card.`, input)
  const button = /** @type {HTMLButtonElement} */ ($('card-refund-form').querySelector('button[type="submit"]'))
  await busy(button, async () => {
    try {
      const made = await api('POST', '/customer/card_refund', cents === undefined ? {} : { amount: centsToAmount(cents) })
      input.value = ''
      await loadAccount()
      if (made?.state === 'refused') showError('Your card refund was refused; the money is on your wristband again (the reason is below).')
      else showNotice(`${formatMoney(made?.amount)} ${made?.state === 'refunded' ? 'went back to your card.' : 'is on its way to your card.'}`)
      // Everything went back: the form (and the button that had focus) is hidden; keyboard focus goes to the section's list.
      if ($('card-refund-form').hidden) $('card-refunds').focus()
    } catch (err) {
      if (isSessionEnded(err)) return sessionEnded()
      showError(`Nothing was refunded: ${err.message}`)
    }
  })
}

/** The guest's transfer reference and the organiser's account; the section stays hidden when the event takes no transfers (404). */
async function loadBankTransfer() {
  $('bank-transfer-section').hidden = true
  const details = await api('GET', '/bank_transfer')
  if (typeof details?.reference_display !== 'string' || typeof details?.iban !== 'string') return
  $('bank-transfer-holder').textContent = String(details.account_holder ?? '')
  $('bank-transfer-iban').textContent = details.iban
  const bic = typeof details.bic === 'string' ? details.bic : ''
  $('bank-transfer-bic').textContent = bic
  $('bank-transfer-bic').hidden = bic === ''
  $('bank-transfer-bic-label').hidden = bic === ''
  $('bank-transfer-reference').textContent = details.reference_display
  $('bank-transfer-section').hidden = false
}

function renderCustomer(customer) {
  $('balance').textContent = formatMoney(customer?.balance)
  const tag = typeof customer?.user_tag_uid_hex === 'string' && customer.user_tag_uid_hex ? `Wristband ${customer.user_tag_uid_hex}` : ''
  $('tag-info').textContent = tag
  const topupEnabled = state.config?.sumup_topup_enabled !== false
  $('topup-section').hidden = !topupEnabled
  renderPayoutForm(customer)
}

/**
 * Which way an order moved the balance. Totals are signed as the reference
 * server signs them, as what the guest paid in the order: a purchase is
 * positive (the balance went down), a cancellation, deposit return or pay-out
 * negative, a top-up positive (the balance went up).
 */
const BALANCE_DIRECTION = { sale: -1, cancel_sale: -1, pay_out: 1, top_up: 1 }

/** "−€5.00" or "+€5.00" as the balance moved; a plain amount where the type does not say. */
function balanceChange(order) {
  const total = order?.total_price
  const direction = BALANCE_DIRECTION[order?.order_type]
  if (typeof total !== 'number' || direction === undefined || total === 0) return formatMoney(total)
  return `${direction * total < 0 ? '−' : '+'}${formatMoney(Math.abs(total))}`
}

const ORDER_TYPE_LABELS = {
  sale: 'Purchase',
  cancel_sale: 'Cancelled purchase',
  top_up: 'Top-up',
  pay_out: 'Payout',
  ticket: 'Ticket',
  money_transfer: 'Transfer',
}

function formatDateTime(iso) {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return ''
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(date)
}

function element(tag, className, text) {
  const el = document.createElement(tag)
  if (className) el.className = className
  if (text !== undefined) el.textContent = text
  return el
}

function renderOrders(orders) {
  const list = $('orders')
  list.replaceChildren()
  const sorted = [...orders].sort((a, b) => String(b?.booked_at).localeCompare(String(a?.booked_at)))
  for (const order of sorted) {
    const item = element('li', 'order')
    item.dataset.orderUuid = String(order?.uuid ?? '')
    const head = element('div', 'order-head')
    head.append(element('span', 'order-type', ORDER_TYPE_LABELS[order?.order_type] ?? String(order?.order_type ?? 'Order')))
    head.append(element('span', 'order-total', balanceChange(order)))
    item.append(head)
    item.append(element('p', 'meta', formatDateTime(order?.booked_at)))
    const lines = element('ul', 'order-lines')
    for (const line of Array.isArray(order?.line_items) ? order.line_items : []) {
      const li = element('li')
      li.append(element('span', '', `${line?.quantity ?? ''} × ${line?.product?.name ?? 'item'}`))
      li.append(element('span', '', formatMoney(line?.total_price)))
      lines.append(li)
    }
    if (lines.childElementCount > 0) item.append(lines)
    if (typeof order?.uuid === 'string' && UUID.test(order.uuid)) {
      const link = /** @type {HTMLAnchorElement} */ (element('a', 'receipt-link', 'Receipt'))
      link.href = `./?bon=${encodeURIComponent(order.uuid)}`
      link.setAttribute('aria-label', `Receipt of ${head.firstChild?.textContent ?? 'order'} of ${formatDateTime(order.booked_at)}`)
      item.append(link)
    }
    list.append(item)
  }
  $('orders-empty').hidden = sorted.length > 0
}

async function refresh() {
  clearMessages()
  await busy(/** @type {HTMLButtonElement} */ ($('refresh')), async () => {
    try {
      await loadAccount()
    } catch (err) {
      showError(err.message)
    }
  })
}

// ---------------------------------------------------------------------------
// Payout registration and donations

function renderPayoutForm(customer) {
  const enabled = state.config?.payout_enabled !== false
  $('payout-section').hidden = !enabled
  if (!enabled) return
  const parts = []
  if (customer?.donate_all) {
    parts.push('You donate all of your remaining balance. Thank you!')
  } else if (customer?.has_entered_info && typeof customer.iban === 'string') {
    // Only the end of the IBAN: the page may be seen over a shoulder.
    const tail = customer.iban.replace(/\s+/g, '').slice(-4)
    parts.push(`Your payout goes to the account ending in ${tail}${customer.account_name ? ` (${customer.account_name})` : ''}.`)
    if (typeof customer.donation === 'number' && customer.donation > 0) parts.push(`You donate ${formatMoney(customer.donation)}.`)
  } else {
    parts.push('You have not entered bank details yet.')
  }
  $('payout-state').textContent = parts.join(' ')
  const name = /** @type {HTMLInputElement} */ ($('account-name'))
  const email = /** @type {HTMLInputElement} */ ($('email'))
  const donation = /** @type {HTMLInputElement} */ ($('donation'))
  // Keep what the guest is typing; fill in only empty fields.
  if (!name.value && typeof customer?.account_name === 'string') name.value = customer.account_name
  if (!email.value && typeof customer?.email === 'string') email.value = customer.email
  if ((!donation.value || donation.value === '0') && typeof customer?.donation === 'number' && customer.donation > 0) donation.value = customer.donation.toFixed(2)
}

async function loadPayout() {
  const [info, transactions, check] = await Promise.allSettled([api('GET', '/payout_info'), api('GET', '/get_payout_transactions'), api('GET', '/customer/payout_check')])
  renderPayoutCheck(check.status === 'fulfilled' ? check.value : undefined)
  const list = $('payout-transactions')
  list.replaceChildren()
  if (transactions.status === 'fulfilled' && Array.isArray(transactions.value)) {
    for (const tx of transactions.value) list.append(element('li', '', `${formatMoney(tx?.amount)} paid out on ${formatDateTime(tx?.booked_at)}`))
  }
  list.hidden = list.childElementCount === 0
  const locked = info.status === 'fulfilled' && info.value?.in_payout_run === true
  const controls = [...$('payout-form').querySelectorAll('input, button'), $('donate-all')]
  for (const control of controls) control.toggleAttribute('disabled', locked)
  if (locked) {
    const when = info.value.payout_date ? ` on ${formatDateTime(info.value.payout_date)}` : ''
    $('payout-state').textContent += ` Your payout is being prepared${when}; the details can no longer be changed.`
  }
}

/** What the bank's check of the holder name says (a 404: the event does not check; nothing shown). */
function renderPayoutCheck(check) {
  const line = $('payout-check')
  const shown = !state.customer?.donate_all && typeof check?.message === 'string' && check.state !== 'none'
  line.hidden = !shown
  line.textContent = shown ? check.message : ''
  line.classList.toggle('error', shown && check.state === 'needs_correction')
}

/** A light check for typing mistakes; the server checks the IBAN for real. */
function looksLikeIban(text) {
  return /^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/.test(text)
}

async function savePayout(event) {
  event.preventDefault()
  clearMessages()
  const iban = /** @type {HTMLInputElement} */ ($('iban'))
  const name = /** @type {HTMLInputElement} */ ($('account-name'))
  const email = /** @type {HTMLInputElement} */ ($('email'))
  const donation = /** @type {HTMLInputElement} */ ($('donation'))
  const ibanText = iban.value.replace(/\s+/g, '').toUpperCase()
  if (!looksLikeIban(ibanText)) return showError('Please enter a complete IBAN, like DE89 3704 0044 0532 0130 00.', iban)
  if (!name.value.trim()) return showError('Please enter the name of the account holder.', name)
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.value.trim())) return showError('Please enter a valid email address.', email)
  const donationCents = donation.value.trim() === '' ? 0 : parseAmountCents(donation.value)
  if (donationCents === null) return showError('Please enter the donation as an amount like 5 or 2.50.', donation)
  const balanceCents = amountToCents(state.customer?.balance ?? 0)
  if (donationCents > balanceCents) return showError(`The donation cannot be more than your balance of ${formatMoney(state.customer?.balance)}.`, donation)
  const button = /** @type {HTMLButtonElement} */ ($('payout-form').querySelector('button[type="submit"]'))
  await busy(button, async () => {
    try {
      await api('POST', '/customer_info', { iban: ibanText, account_name: name.value.trim(), email: email.value.trim(), donation: centsToAmount(donationCents) })
      iban.value = ''
      await loadAccount()
      showNotice('Your bank details are saved.')
    } catch (err) {
      if (isSessionEnded(err)) return sessionEnded()
      showError(`Your bank details were not saved: ${err.message}`)
    }
  })
}

function toggleDonateAllConfirm(open) {
  $('donate-all-confirm').hidden = !open
  $('donate-all').setAttribute('aria-expanded', String(open))
  if (open) $('donate-all-yes').focus()
}

async function donateAll() {
  clearMessages()
  await busy(/** @type {HTMLButtonElement} */ ($('donate-all-yes')), async () => {
    try {
      await api('POST', '/customer_all_donation')
      toggleDonateAllConfirm(false)
      await loadAccount()
      showNotice('Thank you! All of your remaining balance will be donated.')
    } catch (err) {
      if (isSessionEnded(err)) return sessionEnded()
      showError(`The donation was not saved: ${err.message}`)
    }
  })
}

// ---------------------------------------------------------------------------
// Online top-up: create a checkout, pay on the provider's page, come back, poll

/**
 * The checkout this tab is waiting for, by the spec's `order_uuid` or, when the
 * guest came back in a tab that does not know it, the `checkout_id` of the return address.
 * @returns {{order_uuid?: string, checkout_id?: string, amount?: number} | null}
 */
function pendingCheckout() {
  try {
    const value = JSON.parse(sessionStorage.getItem(PENDING_CHECKOUT_KEY) ?? 'null')
    if (typeof value?.order_uuid === 'string' && UUID.test(value.order_uuid)) return value
    if (typeof value?.checkout_id === 'string' && CHECKOUT_ID.test(value.checkout_id)) return { checkout_id: value.checkout_id }
    return null
  } catch {
    return null
  }
}

/** Only a web address may be followed: never `javascript:` or `data:` from a reply. */
function safeRedirectUrl(value) {
  if (typeof value !== 'string') return null
  try {
    const url = new URL(value, location.href)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null
  } catch {
    return null
  }
}

async function startTopUp(event) {
  event.preventDefault()
  clearMessages()
  const field = /** @type {HTMLInputElement} */ ($('topup-amount'))
  const cents = parseAmountCents(field.value)
  if (cents === null || cents <= 0) return showError('Please enter the amount to top up, like 20 or 12.50.', field)
  const button = /** @type {HTMLButtonElement} */ ($('topup-form').querySelector('button[type="submit"]'))
  await busy(button, async () => {
    try {
      const reply = await api('POST', '/sumup/create-checkout', { amount: centsToAmount(cents) })
      const redirect = safeRedirectUrl(reply?.redirect_url)
      if (typeof reply?.order_uuid !== 'string' || !redirect) {
        showError('Online top-up is not available right now. Please top up at a top-up station.')
        return
      }
      sessionStorage.setItem(PENDING_CHECKOUT_KEY, JSON.stringify({ order_uuid: reply.order_uuid, checkout_id: reply.checkout_id, amount: centsToAmount(cents) }))
      showNotice('Taking you to the payment page…')
      location.assign(redirect)
      // Leave the button disabled while the browser navigates away.
      await new Promise(() => undefined)
    } catch (err) {
      if (isSessionEnded(err)) return sessionEnded()
      showError(`The top-up could not be started: ${err.message}`, field)
    }
  })
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms))

function showTopUpResult(kind, text, canCheckAgain) {
  const box = $('topup-result')
  box.className = `result ${kind}`
  $('topup-result-text').textContent = text
  $('topup-check-again').hidden = !canCheckAgain
  box.hidden = false
}

let polling = false

/** Asks the server until the provider has decided (PAID or FAILED), a bounded number of times. */
async function followCheckout() {
  const pending = pendingCheckout()
  if (!pending || polling) return
  polling = true
  const amountText = typeof pending.amount === 'number' ? `${formatMoney(pending.amount)} ` : ''
  showTopUpResult('pending', `Checking your payment of ${amountText}with the payment provider…`, false)
  try {
    for (let attempt = 0; attempt < CHECKOUT_POLL_ATTEMPTS; attempt++) {
      let status
      try {
        const ref = pending.order_uuid ? { order_uuid: pending.order_uuid } : { checkout_id: pending.checkout_id }
        const reply = await api('POST', '/sumup/check-checkout', ref)
        status = reply?.status
      } catch (err) {
        if (isSessionEnded(err)) return sessionEnded()
        if (err instanceof ApiError && (err.status === 404 || err.status === 422 || err.status === 400)) {
          sessionStorage.removeItem(PENDING_CHECKOUT_KEY)
          return showTopUpResult('failed', `This payment is not known: ${err.message}`, false)
        }
        // A network hiccup or a busy provider: try again.
      }
      if (status === 'PAID') {
        sessionStorage.removeItem(PENDING_CHECKOUT_KEY)
        await loadAccount().catch(() => undefined)
        return showTopUpResult('paid', `Your top-up of ${amountText}was received. Your balance is updated.`, false)
      }
      if (status === 'FAILED') {
        sessionStorage.removeItem(PENDING_CHECKOUT_KEY)
        return showTopUpResult('failed', `The payment of ${amountText}did not go through. Nothing was added to your balance.`, false)
      }
      await sleep(CHECKOUT_POLL_DELAYS_MS[Math.min(attempt, CHECKOUT_POLL_DELAYS_MS.length - 1)])
    }
    showTopUpResult('pending', 'The payment provider has not confirmed your payment yet. Your balance is updated as soon as it does.', true)
  } finally {
    polling = false
  }
}

/**
 * Back from the provider: the tab remembers its checkout; the return address
 * names it too (`checkout_id`), which counts when the tab does not remember
 * (the guest finished paying in another tab).
 */
function adoptCheckoutFromUrl(params) {
  if (!pendingCheckout()) {
    const orderUuid = params.get('order_uuid')
    const checkoutId = params.get('checkout_id')
    if (orderUuid && UUID.test(orderUuid)) sessionStorage.setItem(PENDING_CHECKOUT_KEY, JSON.stringify({ order_uuid: orderUuid }))
    else if (checkoutId && CHECKOUT_ID.test(checkoutId)) sessionStorage.setItem(PENDING_CHECKOUT_KEY, JSON.stringify({ checkout_id: checkoutId }))
  }
  // A reload must not start the check again once it is settled.
  if (params.has('order_uuid') || params.has('checkout_id')) history.replaceState(null, '', location.pathname)
}

// ---------------------------------------------------------------------------
// A receipt

async function showBon(orderUuid) {
  showView('bon')
  if (!UUID.test(orderUuid)) {
    $('bon-lines').hidden = true
    $('bon-taxes').hidden = true
    return showError('This receipt link is not valid.')
  }
  try {
    const bon = await api('GET', `/bon/${encodeURIComponent(orderUuid)}`)
    renderBon(bon)
  } catch (err) {
    $('bon-lines').hidden = true
    $('bon-taxes').hidden = true
    showError(err instanceof ApiError && err.status === 404 ? 'This receipt does not exist.' : err.message)
  }
}

function renderBon(bon) {
  if (typeof bon?.currency_identifier === 'string' && /^[A-Z]{3}$/.test(bon.currency_identifier)) state.currency = bon.currency_identifier
  const issuer = $('bon-issuer')
  issuer.replaceChildren()
  for (const text of [bon?.config?.title, bon?.config?.issuer, bon?.config?.address, bon?.config?.ust_id ? `VAT ID ${bon.config.ust_id}` : '']) {
    if (typeof text === 'string' && text) issuer.append(element('p', '', text))
  }
  const order = bon?.order ?? {}
  $('bon-order').textContent = `Order ${order.id ?? ''} · ${formatDateTime(order.booked_at)}`
  const body = /** @type {HTMLTableSectionElement} */ ($('bon-lines').querySelector('tbody'))
  body.replaceChildren()
  for (const line of Array.isArray(order.line_items) ? order.line_items : []) {
    const row = element('tr')
    row.append(element('td', '', String(line?.quantity ?? '')))
    row.append(element('td', '', String(line?.product?.name ?? '')))
    row.append(element('td', 'num', formatMoney(line?.product_price)))
    row.append(element('td', 'num', formatMoney(line?.total_price)))
    body.append(row)
  }
  $('bon-total').textContent = formatMoney(order.total_price)
  const taxes = /** @type {HTMLTableSectionElement} */ ($('bon-taxes').querySelector('tbody'))
  taxes.replaceChildren()
  for (const tax of Array.isArray(bon?.tax_rate_aggregations) ? bon.tax_rate_aggregations : []) {
    const row = element('tr')
    const rate = typeof tax?.tax_rate === 'number' ? `${tax.tax_name ?? ''} ${(tax.tax_rate * 100).toFixed(1)} %`.trim() : String(tax?.tax_name ?? '')
    row.append(element('td', '', rate))
    row.append(element('td', 'num', formatMoney(tax?.total_no_tax)))
    row.append(element('td', 'num', formatMoney(tax?.total_tax)))
    row.append(element('td', 'num', formatMoney(tax?.total_price)))
    taxes.append(row)
  }
  $('bon-taxes').hidden = taxes.childElementCount === 0
}

// ---------------------------------------------------------------------------

async function start() {
  $('login-form').addEventListener('submit', logIn)
  $('logout').addEventListener('click', logOut)
  $('refresh').addEventListener('click', refresh)
  $('topup-form').addEventListener('submit', startTopUp)
  $('topup-check-again').addEventListener('click', () => void followCheckout())
  $('payout-form').addEventListener('submit', savePayout)
  $('card-refund-form').addEventListener('submit', askCardRefund)
  $('donate-all').addEventListener('click', () => toggleDonateAllConfirm($('donate-all-confirm').hidden))
  $('donate-all-no').addEventListener('click', () => toggleDonateAllConfirm(false))
  $('donate-all-yes').addEventListener('click', donateAll)
  for (const input of document.querySelectorAll('input')) input.addEventListener('input', () => input.removeAttribute('aria-invalid'))
  // Coming back to the tab (for instance after paying at a kiosk): show fresh numbers.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.customer && !$('account-view').hidden) void loadAccount().catch(() => undefined)
  })

  const params = new URLSearchParams(location.search)
  await loadConfig()
  const bon = params.get('bon')
  if (bon !== null) return showBon(bon)
  adoptCheckoutFromUrl(params)

  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin()
  try {
    await loadAccount()
  } catch (err) {
    showView('account')
    showError(err.message)
  }
  if (state.customer) void followCheckout()
}

start().catch((err) => {
  $('loading').hidden = true
  showError(`The page could not start: ${err?.message ?? err}`)
})
