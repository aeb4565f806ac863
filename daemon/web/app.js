// The kiosk's touchscreen UI (Chromium in kiosk mode on the Pi, 800x480): it
// talks only to the kiosk daemon's local API on the same origin. GET /state is
// polled every second; each operation is one POST that waits for the wristband
// tap and the gateway's answer, while the page shows the "tap wristband"
// prompt with a Cancel button (POST /abort).
//
// Money is integer cents everywhere in here and in the API; it becomes a
// decimal string ("4.50") only when it is put on the screen. Every text from
// the API goes into the page with textContent, never as HTML.

const STATE_POLL_MS = 1000
const STATE_TIMEOUT_MS = 3000
/** An operation waits for a tap and the gateway (about 15 s at most); after this the page gives up on the request. */
const OPERATION_TIMEOUT_MS = 90_000
const MAX_CENTS = 10_000_000
const MAX_QTY = 1000
const MAX_LINES = 100
const NOTICE_MS = 4000
/** A balance check is private: it is cleared after this long. */
const BALANCE_CLEAR_MS = 60_000
const QUICK_TOPUPS = [500, 1000, 2000, 5000]
/** The guest PIN alphabet of the portal (A-Z and 2-9 without I, O, 0, 1). */
const PIN_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
const GUEST_PIN = /^[A-HJ-NP-Z2-9]{8,32}$/
const STAFF_PIN = /^[0-9]{4,12}$/

/** Who may book what (device-protocol/catalog.ts ROLES_FOR_TYPE). */
const ROLES = {
  sale: ['cashier', 'supervisor'],
  cancel: ['cashier', 'supervisor'],
  topup: ['topup', 'supervisor'],
  cashout: ['topup', 'supervisor'],
  ticket: ['topup', 'supervisor'],
  shift: ['topup', 'supervisor'],
  tagSwitch: ['supervisor'],
}

/** Refusal reasons of the gateway and the kiosk, in plain words. */
const REASONS = {
  insufficient_balance: 'Not enough money on the wristband.',
  // The gateway refused without booking: nothing was charged; the kiosk stops selling until it is enrolled.
  unknown_kiosk: 'This kiosk is not enrolled at the gateway. Nothing was charged. An operator must enroll it.',
  bad_signature: 'The gateway does not know this kiosk\'s key. Nothing was charged. An operator must enroll this kiosk\'s key.',
  product_restricted: 'This wristband may not buy one of these products (age restriction).',
  tag_blocked: 'This wristband is blocked.',
  unknown_tag: 'This wristband is not known.',
  unknown_product: 'A product is not known to the gateway.',
  price_mismatch: 'A price does not match the gateway\'s catalog.',
  amount_mismatch: 'The amount does not match the lines.',
  sale_not_allowed: 'Sales are not allowed at this till.',
  topup_not_allowed: 'Top-ups are not allowed at this till.',
  duplicate_payment: 'This card payment was already booked.',
  tag_not_authentic: 'This wristband is not genuine.',
  tag_replayed: 'This wristband\'s code was used before (copied wristband?).',
  tag_type_not_accepted: 'This kind of wristband is not accepted.',
  staff_not_allowed: 'Your login may not do this.',
  not_logged_in: 'Log in with your staff wristband first.',
  offline_limit: 'Offline limit reached.',
  offline_limit_exceeded: 'The gateway refused this offline sale: beyond the offline limits.',
  offline_not_allowed: 'The gateway refused this offline sale: offline sales are not allowed.',
  deposit_not_handed_out: 'More deposits back than were handed out.',
  return_qty_exceeded: 'Too many items returned at once.',
  timestamp_in_future: 'The kiosk\'s clock is ahead: ask an operator to check it.',
  timestamp_too_old: 'The kiosk\'s clock is behind, or the transaction waited too long: ask an operator.',
  nothing_to_pay_out: 'There is nothing to pay out on this wristband.',
  invalid_pin: 'The PIN is not right.',
  tag_in_use: 'This wristband is already in use.',
  not_cancellable: 'This sale can no longer be cancelled.',
  debt: 'The wristband has a debt.',
}

/** Errors of the local API (`type`), in plain words; the API's own message is always shown below. */
const ERRORS = {
  tap_timeout: 'No wristband was tapped in time. Nothing was booked.',
  busy: 'The kiosk is busy with another operation.',
  aborted: 'Cancelled. Nothing was booked.',
  not_logged_in: 'Log in with your staff wristband first.',
  staff_not_allowed: 'Your login may not do this.',
  wrong_staff_pin: 'The staff PIN is wrong or missing.',
  unknown_staff: 'This wristband is not a staff wristband.',
  offline_limit: 'Offline limit reached: this needs the connection to the gateway.',
  gateway_unreachable: 'The gateway cannot be reached: this needs the connection.',
  reader_unavailable: 'The wristband reader is not working.',
  terminal_unavailable: 'The card terminal is not working.',
  outbox_full: 'The kiosk\'s queue is full: it cannot take more until the gateway answers.',
  no_config: 'The kiosk has no configuration from the gateway yet.',
  empty_cart: 'The cart is empty.',
  unknown_product: 'A product is not known.',
  invalid_quantity: 'A quantity is not valid.',
  cart_too_large: 'The cart has too many lines.',
  invalid_amount: 'The amount is not valid.',
  invalid_price: 'The price is not valid.',
  price_required: 'Enter the price.',
  not_returnable: 'This product cannot be returned.',
  product_restricted: 'This wristband may not buy one of these products (age restriction).',
  tag_blocked: 'This wristband is blocked.',
  unknown_tag: 'This wristband is not known.',
  sale_not_allowed: 'Sales are not allowed at this till.',
  topup_not_allowed: 'Top-ups are not allowed at this till.',
  cashout_not_allowed: 'Cash-outs are not allowed at this till.',
  ticket_not_allowed: 'Ticket sales are not allowed at this till.',
  tag_switch_not_allowed: 'Tag switches are not allowed at this till.',
  cancel_not_allowed: 'This sale can no longer be cancelled.',
  nothing_to_cancel: 'There is no sale to cancel.',
  nothing_to_pay_out: 'There is nothing to pay out on this wristband.',
  no_open_shift: 'Open the cash shift first.',
  shift_already_open: 'A cash shift is already open.',
  unknown_register: 'This cash register is not known.',
  invalid_pin: 'The PIN is not right.',
  pin_seal_unavailable: 'Tag switches are not possible right now (no gateway key).',
  card_payment_unresolved: 'A card payment is unresolved: a supervisor must settle it first.',
  chain_recovery_required: 'Sales are stopped: the transaction store is behind the gateway. A supervisor must confirm the recovery.',
  no_chain_recovery: 'There is no recovery to confirm.',
  not_enrolled: 'This kiosk is not enrolled at the gateway: nothing can be sold until an operator enrolls it.',
  stopped: 'The kiosk is shutting down.',
  bad_request: 'The kiosk refused the request.',
  internal: 'The kiosk had an internal error.',
  network: 'The kiosk service did not answer.',
  timeout: 'The kiosk service did not answer in time.',
}

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
const btn = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id))
const inputEl = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id))

// ---------------------------------------------------------------------------
// Money

/** Integer cents as "4.50", "-2.00"; no currency symbol. */
function money(cents) {
  if (!Number.isSafeInteger(cents)) return '–'
  const sign = cents < 0 ? '-' : ''
  const abs = Math.abs(cents)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

/** "+4.50" for positive amounts, for history and differences. */
function signedMoney(cents) {
  return cents > 0 ? `+${money(cents)}` : money(cents)
}

/**
 * What the cashier typed on a keypad ("20", "4.5", "12.50") as cents, or null.
 * Parsed as text: no floating point between the keys and the cents.
 */
function parseMoney(text) {
  const m = /^(\d{1,6})(?:\.(\d{0,2}))?$/.exec(text)
  if (!m) return null
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'))
  return cents <= MAX_CENTS ? cents : null
}

function clockTime(ms) {
  if (!Number.isFinite(ms)) return ''
  const d = new Date(ms)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

// ---------------------------------------------------------------------------
// Talking to the local API

class ApiError extends Error {
  constructor(status, type, message, id) {
    super(message)
    this.status = status
    this.type = type
    this.id = id
  }
}

async function api(method, path, body, timeoutMs) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  let response
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: controller.signal,
    })
  } catch {
    clearTimeout(timer)
    if (controller.signal.aborted) throw new ApiError(0, 'timeout', 'no answer from the kiosk service in time', '')
    throw new ApiError(0, 'network', 'the kiosk service cannot be reached', '')
  }
  let data = null
  try {
    const text = await response.text()
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  } finally {
    clearTimeout(timer)
  }
  if (!response.ok) {
    const type = typeof data?.type === 'string' ? data.type : `http_${response.status}`
    const message = typeof data?.message === 'string' ? data.message : `HTTP ${response.status}`
    throw new ApiError(response.status, type, message, typeof data?.id === 'string' ? data.id : '')
  }
  return { status: response.status, data }
}

// ---------------------------------------------------------------------------
// State

const ui = {
  /** The last answer of GET /state, null before the first. */
  state: null,
  /** Whether the last poll of /state failed. */
  serviceDown: false,
  screen: '',
  /** An operation of this page is waiting for its answer. */
  working: false,
  /** The cashier pressed Cancel on the tap prompt. */
  abortRequested: false,
  /** Cart lines by key: fixed-price products by id, free-price ones by id and price. */
  cart: /** @type {Map<string, {key: string, product: any, qty: number, unitPrice: number, free: boolean}>} */ (new Map()),
  /** Ticket products by id → qty. */
  tickets: /** @type {Map<string, number>} */ (new Map()),
  shiftRegister: '',
  loginPinShown: false,
  /** Which product the price dialog is for. */
  priceProduct: null,
  /** The signature of the product list last rendered (re-render only on change). */
  productsKey: '',
  onConfirm: /** @type {null | (() => void)} */ (null),
}

const products = () => (Array.isArray(ui.state?.products) ? ui.state.products : Array.isArray(ui.state?.config?.products) ? ui.state.config.products : [])
const productKind = (p) => p.kind ?? 'item'
const isFixedPrice = (p) => p.fixedPrice !== false

/** The till profile in force; a config without one allows what its two flags say (daemon/profile.ts). */
function profile() {
  const s = ui.state
  if (s?.profile) return s.profile
  if (!s?.config) return null
  return {
    id: 'default', name: s.config.booth, sale: !!s.config.saleAllowed, topupCash: !!s.config.topupAllowed, topupCard: !!s.config.topupAllowed,
    cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 0,
  }
}

const staffRequired = () => ui.state?.staffRequired === true
const isOffline = () => ui.state !== null && (ui.state.offline === true || (ui.state.offline === undefined && ui.state.connected === false))

/** The logged-in staff may do it (always, when this event has no staff logins). */
function roleAllows(action) {
  if (!staffRequired()) return true
  const roles = ui.state?.staff?.roles
  return Array.isArray(roles) && ROLES[action].some((r) => roles.includes(r))
}

/** What this till and this login may do at all: decides which tabs and buttons exist. */
function allowed() {
  const p = profile()
  const loggedIn = !staffRequired() || !!ui.state?.staff
  const can = (flag, action) => loggedIn && !!p && !!p[flag] && roleAllows(action)
  return {
    sale: can('sale', 'sale'),
    cancel: can('sale', 'cancel') && (p?.cancelWindowMs ?? 0) > 0,
    topupCash: can('topupCash', 'topup'),
    topupCard: can('topupCard', 'topup'),
    cashout: can('cashout', 'cashout'),
    ticket: can('ticketSale', 'ticket'),
    tagSwitch: can('tagSwitch', 'tagSwitch'),
    shift: can('cashRegister', 'shift'),
    balance: loggedIn && !!p,
  }
}

const shiftOpen = () => !!ui.state?.shift
/** Cash top-ups, cash-outs and tickets need an open shift where cash goes into a register. */
const needsShift = () => !!profile()?.cashRegister && !shiftOpen()

// ---------------------------------------------------------------------------
// Keypads

/**
 * A keypad of buttons in `container`; `prefix` makes the data-testids unique
 * (`topup-key-7`, `topup-key-back`). `onKey` gets '0'-'9', '.', 'back', 'clear'.
 */
function makeKeypad(container, prefix, { decimal }, onKey) {
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', decimal ? '.' : 'clear', '0', 'back']
  for (const key of keys) {
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'key'
    button.dataset.testid = `${prefix}-key-${key === '.' ? 'dot' : key}`
    button.dataset.key = key
    button.textContent = key === 'back' ? '⌫' : key === 'clear' ? 'C' : key
    if (key === 'back') button.setAttribute('aria-label', 'Delete')
    if (key === 'clear') button.setAttribute('aria-label', 'Clear')
    button.addEventListener('click', () => onKey(key))
    container.append(button)
  }
}

/** Applies a key to a typed money text ("12.5"); keeps it parseable. */
function typeMoney(text, key) {
  if (key === 'back') return text.slice(0, -1)
  if (key === 'clear') return ''
  const next = key === '.' ? (text.includes('.') ? text : (text || '0') + '.') : text === '0' ? key : text + key
  return parseMoney(next) === null ? text : next
}

/** A typed amount with its display element. */
function moneyInput(displayId, onChange) {
  const input = {
    text: '',
    cents: () => parseMoney(input.text) ?? 0,
    set(text) {
      input.text = text
      $(displayId).textContent = input.text === '' ? '0.00' : input.text.includes('.') ? input.text : money(input.cents())
      onChange?.()
    },
    key(key) {
      input.set(typeMoney(input.text, key))
    },
  }
  return input
}

let topupAmount
let ticketTopup
let shiftFloat
let shiftCounted
let priceAmount
let staffPin = ''

/** Which keypad the physical keyboard feeds on the current screen. */
function activeKeyHandler() {
  if (!$('overlay-price').hidden) return (k) => priceAmount.key(k)
  if (anyOverlayOpen()) return null
  switch (ui.screen) {
    case 'topup': return (k) => topupAmount.key(k)
    case 'ticket': return (k) => ticketTopup.key(k)
    case 'shift': return shiftOpen() ? (k) => shiftCounted.key(k) : (k) => shiftFloat.key(k)
    case 'login': return ui.loginPinShown ? staffPinKey : null
    default: return null
  }
}

function staffPinKey(key) {
  if (key === 'back') staffPin = staffPin.slice(0, -1)
  else if (key === 'clear') staffPin = ''
  else if (/^[0-9]$/.test(key) && staffPin.length < 12) staffPin += key
  $('staffpin-display').textContent = '•'.repeat(staffPin.length)
}

// ---------------------------------------------------------------------------
// Rendering from /state

function setChip(id, text, state) {
  const chip = $(id)
  chip.textContent = text
  chip.dataset.state = state
}

/** The banner's words for a kiosk the gateway does not know by its key (GET /state `enrollment`). */
function enrollmentText(kiosk, enrollment) {
  const key = typeof enrollment.publicKey === 'string' ? enrollment.publicKey : '?'
  const what = enrollment.status === 'other_key'
    ? `The gateway has another key for kiosk ${kiosk ?? '?'} than the one it signs with.`
    : `Kiosk ${kiosk ?? '?'} is not enrolled at the gateway.`
  return `${what} Nothing can be sold. An operator must enroll its public key ${key} (see GET /state on the kiosk); the kiosk goes on by itself.`
}

function renderStatus() {
  const s = ui.state
  const offline = isOffline()
  $('offline-banner').hidden = !offline || ui.serviceDown
  $('service-banner').hidden = !ui.serviceDown
  // The outbox is behind what the gateway booked: nothing is sold until a supervisor confirms.
  const damage = s?.chain?.status === 'recovery_required' ? s.chain.damage : undefined
  $('chain-banner').hidden = damage === undefined || ui.serviceDown
  if (damage !== undefined) {
    const lost = Number.isInteger(damage.missing) && damage.missing > 0 ? ` ${damage.missing} unsent transaction(s) are lost from it.` : ''
    $('chain-text').textContent = `This kiosk's transaction store is behind what the gateway booked (it would sign no. ${damage.localNextSeq}, the gateway expects no. ${damage.gatewayNextSeq}).${lost} A supervisor must confirm before selling again.`
    $('chain-confirm').disabled = ui.working
  }
  // Not enrolled (or another key enrolled): the gateway would refuse every sale, so the kiosk refuses them first.
  const enrollment = s?.enrollment
  const unenrolled = enrollment?.status === 'not_enrolled' || enrollment?.status === 'other_key'
  $('enroll-banner').hidden = !unenrolled || ui.serviceDown
  if (unenrolled) $('enroll-text').textContent = enrollmentText(s.kiosk, enrollment)
  document.body.classList.toggle('is-offline', offline || ui.serviceDown)
  if (offline) {
    const depth = Number.isInteger(s?.outboxDepth) ? s.outboxDepth : 0
    $('offline-text').textContent = `No connection to the gateway. Sales are accepted within the offline limits and sent later${depth > 0 ? ` (${depth} waiting)` : ''}.`
  }
  if (!s) return
  $('booth-name').textContent = s.config?.booth ?? s.kiosk ?? 'wristpay'
  const p = profile()
  $('profile-name').textContent = [s.kiosk, p && p.name !== s.config?.booth ? p.name : ''].filter(Boolean).join(' · ')
  setChip('status-gateway', ui.serviceDown ? 'Kiosk ?' : offline ? 'Offline' : unenrolled ? 'Not enrolled' : 'Online', ui.serviceDown || offline || unenrolled ? 'bad' : 'ok')
  const reader = s.reader ?? {}
  setChip('status-reader', reader.connected ? 'Reader ok' : 'No reader', reader.connected ? 'ok' : 'bad')
  $('status-reader').title = String(reader.kind ?? '')
  if (s.terminal) {
    $('status-terminal').hidden = false
    setChip('status-terminal', s.terminal.connected ? (s.terminal.busy ? 'Terminal busy' : 'Terminal ok') : 'No terminal', s.terminal.connected ? 'ok' : 'bad')
  } else {
    $('status-terminal').hidden = true
  }
  const depth = Number.isInteger(s.outboxDepth) ? s.outboxDepth : 0
  setChip('status-outbox', `Queue ${depth}`, depth > 0 ? 'warn' : 'ok')
  const staff = s.staff
  $('staff-name').textContent = staff ? `${staff.name}${Array.isArray(staff.roles) ? ` (${staff.roles.join(', ')})` : ''}` : staffRequired() ? 'Not logged in' : ''
  $('logout').hidden = !staff
  $('logout').disabled = ui.working
}

function renderTabs(can) {
  const visible = {
    sale: can.sale,
    topup: can.topupCash || can.topupCard,
    cashout: can.cashout,
    ticket: can.ticket,
    tagswitch: can.tagSwitch,
    balance: can.balance,
    shift: can.shift,
  }
  for (const tab of document.querySelectorAll('#tabs .tab')) {
    const name = tab.dataset.screen ?? ''
    tab.hidden = !visible[name]
    tab.classList.toggle('active', name === ui.screen)
    tab.setAttribute('aria-current', name === ui.screen ? 'page' : 'false')
  }
  return visible
}

/** Which screen to show: login, loading or the chosen tab (the first allowed one when the chosen is not). */
function chooseScreen(visible) {
  const s = ui.state
  if (!s || !s.config) return 'loading'
  if (staffRequired() && !s.staff) return 'login'
  if (visible[ui.screen]) return ui.screen
  return ['sale', 'topup', 'cashout', 'ticket', 'tagswitch', 'balance', 'shift'].find((name) => visible[name]) ?? 'none'
}

function showScreen(name) {
  if (ui.screen !== name) {
    if (ui.screen === 'balance') clearBalance()
    ui.screen = name
  }
  for (const section of document.querySelectorAll('.screen')) {
    section.hidden = section.id !== `screen-${name}`
  }
  $('tabs').hidden = name === 'login' || name === 'loading'
}

function render() {
  renderStatus()
  const can = allowed()
  const visible = renderTabs(can)
  showScreen(chooseScreen(visible))
  renderTabs(can)
  if (!ui.state) $('loading-text').textContent = ui.serviceDown ? 'Waiting for the kiosk service…' : 'Starting…'
  else if (!ui.state.config) $('loading-text').textContent = 'Waiting for the configuration from the gateway…'
  renderProducts()
  renderCart(can)
  renderTopup(can)
  renderCashout()
  renderTicket()
  renderTagSwitch()
  renderShift()
  $('balance-check').disabled = blocked()
  $('login-start').disabled = ui.working
  $('login-pin').hidden = !ui.loginPinShown
  $('login-with-pin').hidden = ui.loginPinShown
}

/** Something is running (this page's operation, or another client's): the kiosk would answer busy. */
const blocked = () => ui.working || ui.state?.busy === true

function productTile(p) {
  const kind = productKind(p)
  const tile = document.createElement('div')
  tile.className = `tile tile-${kind}`
  const add = document.createElement('button')
  add.type = 'button'
  add.className = 'tile-add'
  add.dataset.testid = `product-${p.id}`
  add.dataset.product = p.id
  const name = document.createElement('span')
  name.className = 'tile-name'
  name.textContent = p.name
  const price = document.createElement('span')
  price.className = 'tile-price'
  price.textContent = isFixedPrice(p) ? money(p.price) : p.price > 0 ? `≤ ${money(p.price)}` : 'price?'
  add.append(name, price)
  const badges = []
  if (Array.isArray(p.restrictions) && p.restrictions.length > 0) badges.push(['restricted', `not ${p.restrictions.join(', ')}`])
  if (p.voucherEligible) badges.push(['voucher', 'voucher'])
  for (const [cls, text] of badges) {
    const badge = document.createElement('span')
    badge.className = `badge badge-${cls}`
    badge.textContent = text
    add.append(badge)
  }
  add.addEventListener('click', () => addToCart(p, 1))
  tile.append(add)
  if (kind === 'deposit') {
    const back = document.createElement('button')
    back.type = 'button'
    back.className = 'tile-return'
    back.dataset.testid = `product-return-${p.id}`
    back.textContent = '↩ back'
    back.setAttribute('aria-label', `Return ${p.name}`)
    back.addEventListener('click', () => addToCart(p, -1))
    tile.append(back)
  }
  return tile
}

function renderProducts() {
  const list = products().filter((p) => productKind(p) !== 'ticket')
  const key = JSON.stringify(list)
  if (key !== ui.productsKey) {
    ui.productsKey = key
    const grid = $('products')
    grid.replaceChildren(...list.map(productTile))
    if (list.length === 0) {
      const none = document.createElement('p')
      none.className = 'big-note'
      none.textContent = 'No products in this till\'s catalog.'
      grid.append(none)
    }
    // Lines whose product is gone or changed price cannot be sold as they are.
    for (const [k, line] of ui.cart) {
      const now = list.find((p) => p.id === line.product.id)
      if (!now || (isFixedPrice(now) && now.price !== line.unitPrice) || isFixedPrice(now) !== !line.free) ui.cart.delete(k)
    }
    const tickets = products().filter((p) => productKind(p) === 'ticket')
    $('ticket-products').replaceChildren(...tickets.map(ticketTile))
    for (const id of ui.tickets.keys()) if (!tickets.some((p) => p.id === id)) ui.tickets.delete(id)
  }
  for (const button of document.querySelectorAll('#products button, #ticket-products button')) {
    button.disabled = blocked()
  }
}

// ---------------------------------------------------------------------------
// Sale

function cartTotal() {
  let total = 0
  for (const line of ui.cart.values()) total += line.qty * line.unitPrice
  return total
}

function addToCart(p, delta, unitPrice) {
  const free = !isFixedPrice(p)
  if (free && unitPrice === undefined) return openPriceDialog(p)
  const price = free ? unitPrice : p.price
  const key = free ? `${p.id}@${price}` : p.id
  const line = ui.cart.get(key) ?? { key, product: p, qty: 0, unitPrice: price, free }
  if (!ui.cart.has(key) && ui.cart.size >= MAX_LINES) return showNotice('The cart is full.')
  setQty(line, line.qty + delta)
}

function setQty(line, qty) {
  const deposit = productKind(line.product) === 'deposit'
  const next = Math.max(deposit ? -MAX_QTY : 0, Math.min(MAX_QTY, qty))
  if (next === 0) ui.cart.delete(line.key)
  else ui.cart.set(line.key, { ...line, qty: next })
  render()
}

function cartLine(line) {
  const li = document.createElement('li')
  li.className = `cart-line${line.qty < 0 ? ' is-return' : ''}`
  li.dataset.testid = `cart-line-${line.key}`
  const name = document.createElement('span')
  name.className = 'line-name'
  name.textContent = line.qty < 0 ? `${line.product.name} back` : line.product.name
  const dec = document.createElement('button')
  dec.type = 'button'
  dec.className = 'qty-btn'
  dec.dataset.testid = `cart-dec-${line.key}`
  dec.textContent = '−'
  dec.setAttribute('aria-label', `One ${line.product.name} less`)
  dec.addEventListener('click', () => setQty(line, line.qty - 1))
  const qty = document.createElement('span')
  qty.className = 'line-qty'
  qty.dataset.testid = `cart-qty-${line.key}`
  qty.textContent = String(line.qty)
  const inc = document.createElement('button')
  inc.type = 'button'
  inc.className = 'qty-btn'
  inc.dataset.testid = `cart-inc-${line.key}`
  inc.textContent = '+'
  inc.setAttribute('aria-label', `One ${line.product.name} more`)
  inc.addEventListener('click', () => setQty(line, line.qty + 1))
  const sum = document.createElement('span')
  sum.className = 'line-sum'
  sum.textContent = money(line.qty * line.unitPrice)
  for (const b of [dec, inc]) b.disabled = blocked()
  li.append(name, dec, qty, inc, sum)
  return li
}

function renderCart(can) {
  const lines = [...ui.cart.values()]
  $('cart-lines').replaceChildren(...lines.map(cartLine))
  $('cart-empty').hidden = lines.length > 0
  const total = cartTotal()
  $('cart-total').textContent = money(total)
  const pay = btn('cart-pay')
  pay.textContent = total < 0 ? `Give back ${money(-total)}` : `Pay ${money(total)}`
  pay.classList.toggle('is-return', total < 0)
  pay.disabled = lines.length === 0 || blocked()
  btn('cart-clear').disabled = lines.length === 0 || ui.working
  const last = ui.state?.lastSale
  const cancellable = can.cancel && last && Number.isFinite(last.cancellableUntil) && Date.now() < last.cancellableUntil
  const undo = btn('cancel-last')
  undo.hidden = !cancellable
  if (cancellable) {
    const seconds = Math.max(0, Math.ceil((last.cancellableUntil - Date.now()) / 1000))
    undo.textContent = `Undo last ${money(last.amount)} (${seconds}s)`
  }
  undo.disabled = blocked()
}

function pay() {
  const lines = [...ui.cart.values()].map((l) => (l.free ? { product: l.product.id, qty: l.qty, unitPrice: l.unitPrice } : { product: l.product.id, qty: l.qty }))
  if (lines.length === 0) return
  const total = cartTotal()
  runOperation({
    // A cart whose total is negative is a return: the wristband gets the amount.
    kind: total < 0 ? 'return' : 'sale',
    path: '/sale',
    body: { lines },
    tap: true,
    title: 'Tap wristband',
    detail: total < 0 ? `Give back ${money(-total)}` : `Pay ${money(total)}`,
    done: (outcome) => {
      if (outcome.status === 'accepted' || outcome.status === 'offline') ui.cart.clear()
    },
  })
}

function confirmCancelLast() {
  const last = ui.state?.lastSale
  if (!last) return
  confirm(`Undo the last ${last.type === 'return' ? 'return' : 'sale'} of ${money(last.amount)}?`, () =>
    runOperation({ kind: 'cancel', path: '/cancel-last', body: {}, tap: false, title: 'Cancelling…', detail: `Undo ${money(last.amount)}` }),
  )
}

// Free-price products: the cashier types the price.
function openPriceDialog(p) {
  ui.priceProduct = p
  $('price-title').textContent = `Price of ${p.name}`
  $('price-hint').textContent = p.price > 0 ? `At most ${money(p.price)}` : ''
  priceAmount.set('')
  $('overlay-price').hidden = false
}

function renderPrice() {
  const p = ui.priceProduct
  if (!p) return
  const cents = priceAmount.cents()
  btn('price-add').disabled = priceAmount.text === '' || (p.price > 0 && cents > p.price)
}

// ---------------------------------------------------------------------------
// Top-up, cash-out, tickets, tag switch, shifts

function renderTopup(can) {
  const cents = topupAmount.cents()
  const cash = btn('topup-cash')
  const card = btn('topup-card')
  cash.hidden = !can.topupCash
  card.hidden = !can.topupCard
  cash.disabled = cents <= 0 || blocked() || needsShift()
  card.disabled = cents <= 0 || blocked() || !ui.state?.terminal
  cash.textContent = `Cash ${money(cents)}`
  card.textContent = `Card ${money(cents)}`
  const hints = []
  if (can.topupCash && needsShift()) hints.push('Cash top-up: open the cash shift first.')
  if (can.topupCard && !ui.state?.terminal) hints.push('Card top-up: no card terminal at this kiosk.')
  else if (can.topupCard && ui.state?.terminal && !ui.state.terminal.connected) hints.push('The card terminal is not connected.')
  $('topup-hint').textContent = hints.join(' ')
}

function renderCashout() {
  btn('cashout-go').disabled = blocked() || needsShift()
  $('cashout-hint').textContent = needsShift() ? 'Open the cash shift first.' : isOffline() ? 'A cash-out needs the connection to the gateway.' : ''
}

function ticketTile(p) {
  const button = document.createElement('button')
  button.type = 'button'
  button.className = 'tile-add ticket-tile'
  button.dataset.testid = `ticket-${p.id}`
  const name = document.createElement('span')
  name.className = 'tile-name'
  name.textContent = p.name
  const price = document.createElement('span')
  price.className = 'tile-price'
  price.textContent = money(p.price)
  const qty = document.createElement('span')
  qty.className = 'ticket-qty'
  qty.dataset.testid = `ticket-qty-${p.id}`
  button.append(name, price, qty)
  button.addEventListener('click', () => {
    ui.tickets.set(p.id, Math.min(MAX_QTY, (ui.tickets.get(p.id) ?? 0) + 1))
    render()
  })
  return button
}

function ticketTotal() {
  let total = ticketTopup.cents()
  for (const [id, qty] of ui.tickets) total += qty * (products().find((p) => p.id === id)?.price ?? 0)
  return total
}

function renderTicket() {
  for (const p of products().filter((x) => productKind(x) === 'ticket')) {
    const qty = ui.tickets.get(p.id) ?? 0
    const badge = document.querySelector(`[data-testid="ticket-qty-${CSS.escape(p.id)}"]`)
    if (badge) badge.textContent = qty > 0 ? `× ${qty}` : ''
  }
  $('ticket-total').textContent = money(ticketTotal())
  btn('ticket-sell').disabled = ui.tickets.size === 0 || blocked() || needsShift()
  $('ticket-hint').textContent = needsShift() ? 'Open the cash shift first.' : ''
}

function sellTicket() {
  const lines = [...ui.tickets].map(([product, qty]) => ({ product, qty }))
  const topup = ticketTopup.cents()
  runOperation({
    kind: 'ticket',
    path: '/ticket',
    body: { lines, topup },
    tap: true,
    title: 'Tap the NEW wristband',
    detail: `Take ${money(ticketTotal())} in cash`,
    done: (outcome) => {
      if (outcome.status === 'accepted' || outcome.status === 'offline') {
        ui.tickets.clear()
        ticketTopup.set('')
      }
    },
  })
}

const normaliseGuestPin = (text) => text.replace(/[\s-]/g, '').toUpperCase()

function renderTagSwitch() {
  const pin = normaliseGuestPin(inputEl('tagswitch-pin').value)
  btn('tagswitch-go').disabled = !GUEST_PIN.test(pin) || blocked()
}

function switchTag() {
  const field = inputEl('tagswitch-pin')
  const pin = normaliseGuestPin(field.value)
  if (!GUEST_PIN.test(pin)) return
  runOperation({
    kind: 'tagswitch',
    path: '/tag-switch',
    body: { pin },
    tap: true,
    title: 'Tap the NEW wristband',
    detail: 'The balance moves from the lost wristband to the new one',
    // The PIN is not kept on the screen, whatever the answer.
    done: () => { field.value = '' },
    failed: () => { field.value = '' },
  })
}

function renderShift() {
  const open = shiftOpen()
  $('shift-closed').hidden = open
  $('shift-opened').hidden = !open
  const registers = Array.isArray(ui.state?.registers) ? ui.state.registers : []
  if (!registers.some((r) => r.id === ui.shiftRegister)) ui.shiftRegister = registers.length === 1 ? registers[0].id : ''
  const container = $('shift-registers')
  const key = JSON.stringify(registers)
  if (container.dataset.key !== key) {
    container.dataset.key = key
    container.replaceChildren(
      ...registers.map((r) => {
        const b = document.createElement('button')
        b.type = 'button'
        b.className = 'btn register'
        b.dataset.testid = `register-${r.id}`
        b.dataset.register = r.id
        b.textContent = r.name
        b.addEventListener('click', () => {
          ui.shiftRegister = r.id
          render()
        })
        return b
      }),
    )
    if (registers.length === 0) {
      const none = document.createElement('p')
      none.className = 'hint'
      none.textContent = 'No cash registers in the configuration.'
      container.append(none)
    }
  }
  for (const b of container.querySelectorAll('button')) b.classList.toggle('selected', b.dataset.register === ui.shiftRegister)
  btn('shift-open').disabled = !ui.shiftRegister || shiftFloat.text === '' || blocked()
  btn('shift-close').disabled = shiftCounted.text === '' || blocked()
  const shift = ui.state?.shift
  if (shift) {
    const name = registers.find((r) => r.id === shift.register)?.name ?? shift.register
    const float = shift.float ?? shift.floatCents
    $('shift-info').textContent = `${name}: open since ${clockTime(shift.openedAt)}, float ${money(float)}`
  }
}

// ---------------------------------------------------------------------------
// Balance check

let balanceTimer
function clearBalance() {
  clearTimeout(balanceTimer)
  $('balance-info').hidden = true
  $('balance-amount').textContent = ''
  $('balance-details').textContent = ''
  $('balance-flags').hidden = true
  $('balance-history').replaceChildren()
}

const HISTORY_TYPES = {
  sale: 'Purchase', return: 'Deposit back', topup_cash: 'Top-up cash', topup_card: 'Top-up card', cancel: 'Cancelled',
  cashout: 'Cash-out', ticket: 'Ticket', tag_switch: 'Tag switch', online_topup: 'Online top-up', payout: 'Payout',
}

function showBalance(info) {
  clearBalance()
  $('balance-info').hidden = false
  $('balance-amount').textContent = money(info.balance)
  const details = []
  if (Number.isInteger(info.vouchers) && info.vouchers > 0) details.push(`${info.vouchers} voucher${info.vouchers === 1 ? '' : 's'}`)
  if (typeof info.variant === 'string' && info.variant) details.push(`wristband: ${info.variant}`)
  if (typeof info.uid === 'string') details.push(`UID ${info.uid}`)
  $('balance-details').textContent = details.join(' · ')
  const flags = []
  if (info.blocked) flags.push('BLOCKED')
  if (info.debt) flags.push('HAS A DEBT')
  $('balance-flags').textContent = flags.join(' · ')
  $('balance-flags').hidden = flags.length === 0
  const recent = Array.isArray(info.recent) ? info.recent : []
  $('balance-history').replaceChildren(
    ...recent.map((entry) => {
      const li = document.createElement('li')
      const at = document.createElement('span')
      at.className = 'h-at'
      at.textContent = clockTime(entry.at)
      const what = document.createElement('span')
      what.className = 'h-what'
      what.textContent = `${HISTORY_TYPES[entry.type] ?? entry.type}${entry.booth ? ` · ${entry.booth}` : ''}`
      const amount = document.createElement('span')
      amount.className = `h-amount ${entry.amount < 0 ? 'neg' : 'pos'}`
      amount.textContent = signedMoney(entry.amount)
      li.append(at, what, amount)
      return li
    }),
  )
  if (recent.length === 0) {
    const li = document.createElement('li')
    li.className = 'hint'
    li.textContent = 'No bookings yet.'
    $('balance-history').append(li)
  }
  balanceTimer = setTimeout(clearBalance, BALANCE_CLEAR_MS)
}

// ---------------------------------------------------------------------------
// Operations: the tap prompt, the answer, errors

function anyOverlayOpen() {
  return ['overlay-busy', 'overlay-result', 'overlay-error', 'overlay-price', 'overlay-confirm'].some((id) => !$(id).hidden)
}

/**
 * Runs one operation: shows the prompt, POSTs, shows the outcome or the error.
 * `show` renders a non-Outcome answer itself (balance, login); `done` runs
 * after an Outcome is shown; `failed` after an error.
 */
async function runOperation(op) {
  if (ui.working) return
  ui.working = true
  ui.abortRequested = false
  $('tap-prompt').hidden = !op.tap
  $('working').hidden = op.tap
  $('tap-title').textContent = op.title
  $('working').textContent = op.tap ? '' : op.title
  $('busy-detail').textContent = op.detail ?? ''
  $('busy-sub').textContent = op.sub ?? ''
  $('tap-cancel').hidden = !op.tap
  btn('tap-cancel').disabled = false
  $('overlay-busy').hidden = false
  render()
  try {
    const { data } = await api('POST', op.path, op.body, OPERATION_TIMEOUT_MS)
    $('overlay-busy').hidden = true
    if (op.show) op.show(data)
    else {
      showResult(op.kind, data ?? {})
      op.done?.(data ?? {})
    }
  } catch (err) {
    $('overlay-busy').hidden = true
    const e = err instanceof ApiError ? err : new ApiError(0, 'internal', String(err), '')
    op.failed?.(e)
    if (e.type === 'aborted' && ui.abortRequested) showNotice('Cancelled. Nothing was booked.')
    else if (!op.handleError?.(e)) showError(e, op.kind)
  } finally {
    ui.working = false
    render()
    void pollState()
  }
}

async function abortTap() {
  ui.abortRequested = true
  btn('tap-cancel').disabled = true
  $('busy-sub').textContent = 'Cancelling…'
  try {
    await api('POST', '/abort', {}, STATE_TIMEOUT_MS)
  } catch (err) {
    btn('tap-cancel').disabled = false
    $('busy-sub').textContent = `Could not cancel: ${err instanceof ApiError ? err.message : String(err)}`
  }
}

const reasonText = (reason) => (typeof reason === 'string' && REASONS[reason]) || (typeof reason === 'string' ? `Refused: ${reason}` : 'Refused.')

/** What an accepted outcome means for the cashier, per operation. */
function acceptedTitle(kind, o) {
  switch (kind) {
    case 'sale': return 'Paid'
    case 'return': return `Returned: ${money(Math.abs(o.amount))} back on the wristband`
    case 'topup': return `Topped up ${money(o.amount)} (cash)`
    case 'topup-card': return `Topped up ${money(o.amount)} (card)`
    case 'cashout': return `PAY OUT ${money(o.amount)} in cash`
    case 'ticket': return `Ticket sold: take ${money(o.amount)} in cash`
    case 'tagswitch': return 'Balance moved to the new wristband'
    case 'cancel': return 'Last sale cancelled'
    case 'shift-open': return 'Shift opened'
    case 'shift-close': return 'Shift closed'
    default: return 'Done'
  }
}

/** The amount line of a refused or unanswered operation: nothing moved (yet). */
function notMovedText(kind, status, amount) {
  const refused = status === 'rejected'
  switch (kind) {
    case 'sale': return refused ? `Nothing charged (total ${money(amount)})` : `Total ${money(amount)} · not charged yet`
    case 'return': return refused ? 'Nothing given back' : 'Not given back yet'
    case 'cancel': return refused ? `Nothing given back (${money(amount)})` : `${money(amount)} not given back yet`
    case 'cashout': return refused ? `Nothing paid out (${money(amount)})` : `${money(amount)}: do not pay out yet`
    case 'shift-open': return `Float ${money(amount)} ${refused ? 'not booked' : 'not booked yet'}`
    case 'shift-close': return `Counted ${money(amount)} ${refused ? 'not booked' : 'not booked yet'}`
    default: return `Amount ${money(amount)} ${refused ? 'not booked' : 'not booked yet'}`
  }
}

function showResult(kind, o) {
  const status = typeof o.status === 'string' ? o.status : 'unknown'
  const box = $('result')
  box.dataset.status = status
  box.dataset.kind = kind
  let title
  let text = ''
  switch (status) {
    case 'accepted':
      title = acceptedTitle(kind, o)
      break
    case 'offline':
      title = kind === 'sale' || kind === 'return' ? 'ACCEPTED OFFLINE: hand out the goods' : `ACCEPTED OFFLINE: ${acceptedTitle(kind, o)}`
      text = 'Not checked with the gateway: it is booked when the connection is back.'
      break
    case 'pending':
      title = 'NOT CONFIRMED'
      text = kind === 'cashout'
        ? 'No answer from the gateway yet. Do NOT pay out. Check the balance before you try again.'
        : 'No answer from the gateway yet. Do not hand out anything. Check the balance before you try again: it may still be booked.'
      break
    case 'rejected':
      title = kind === 'cashout' ? 'REFUSED: do not pay out' : 'REFUSED'
      text = reasonText(o.reason)
      break
    case 'declined':
      title = 'Card declined'
      text = 'Nothing was charged and nothing was topped up.'
      break
    case 'aborted':
      title = 'Card payment cancelled'
      text = 'Nothing was charged and nothing was topped up.'
      break
    case 'unresolved':
      title = 'CARD PAYMENT UNRESOLVED'
      text = 'The terminal could not tell whether the card was charged. Call a supervisor; do not repeat the payment.'
      break
    default:
      title = `Unknown answer: ${status}`
  }
  if (typeof o.message === 'string' && o.message) text = text ? `${text} ${o.message}` : o.message
  $('result-title').textContent = title

  // The amount line: what moved, and only money that moved is called charged, paid or given back.
  const amountText = (() => {
    if (!Number.isInteger(o.amount) || status === 'declined' || status === 'aborted') return ''
    if (status === 'rejected' || status === 'pending') return notMovedText(kind, status, o.amount)
    if (kind === 'sale' && status === 'offline') return `Total ${money(o.amount)} · charged when the gateway books it`
    if (kind === 'sale' && Number.isInteger(o.charged) && o.charged !== o.amount) return `Total ${money(o.amount)} · charged ${money(o.charged)}`
    if (kind === 'sale') return `Charged ${money(Number.isInteger(o.charged) ? o.charged : o.amount)}`
    if (kind === 'return') return ''
    if (kind === 'shift-close') return `Counted ${money(o.amount)}`
    if (kind === 'shift-open') return `Float ${money(o.amount)}`
    if (kind === 'cancel') return `${money(o.amount)} back on the wristband`
    if (status === 'accepted' && (kind === 'cashout' || kind === 'ticket' || kind.startsWith('topup'))) return ''
    return `Amount ${money(o.amount)}`
  })()
  $('result-amount').textContent = amountText
  $('result-amount').hidden = amountText === ''

  const balance = $('result-balance')
  balance.hidden = !Number.isInteger(o.balance)
  balance.textContent = Number.isInteger(o.balance) ? `${status === 'rejected' ? 'Balance' : 'New balance'} ${money(o.balance)}` : ''

  const vouchers = []
  if (Number.isInteger(o.vouchersUsed) && o.vouchersUsed > 0) vouchers.push(`${o.vouchersUsed} voucher${o.vouchersUsed === 1 ? '' : 's'} used`)
  if (Number.isInteger(o.vouchers) && (o.vouchers > 0 || vouchers.length > 0)) vouchers.push(`${o.vouchers} left`)
  if (o.debt) vouchers.push('the wristband is now in debt')
  $('result-vouchers').textContent = vouchers.join(' · ')
  $('result-vouchers').hidden = vouchers.length === 0

  // A new wristband's PIN: shown here once, gone when the result is closed.
  const pinBox = $('result-pin-box')
  pinBox.hidden = typeof o.pin !== 'string'
  $('result-pin').textContent = typeof o.pin === 'string' ? o.pin.replace(/(.{4})(?=.)/g, '$1 ') : ''

  const shift = Number.isInteger(o.expected) || Number.isInteger(o.difference)
  $('result-shift').hidden = !shift
  $('result-expected').textContent = Number.isInteger(o.expected) ? money(o.expected) : '–'
  $('result-difference').textContent = Number.isInteger(o.difference) ? signedMoney(o.difference) : '–'
  $('result-difference').dataset.state = o.difference === 0 ? 'ok' : 'bad'

  $('result-text').textContent = text
  $('result-text').hidden = text === ''
  const code = [status !== 'accepted' && typeof o.reason === 'string' ? `Reason ${o.reason}` : '', typeof o.id === 'string' ? `Ref ${o.id}` : ''].filter(Boolean).join(' · ')
  $('result-code').textContent = code
  $('overlay-result').hidden = false
  $('result-done').focus()
}

function closeResult() {
  $('overlay-result').hidden = true
  $('result-pin').textContent = ''
  $('result-pin-box').hidden = true
  render()
}

function showError(err, kind) {
  let title = ERRORS[err.type] ?? 'Not done.'
  if (err.type === 'network' || err.type === 'timeout') {
    title = ERRORS[err.type]
    if (kind && kind !== 'balance' && kind !== 'login' && kind !== 'logout') title += ' Check the balance before you repeat: it may have been booked.'
  }
  $('error-title').textContent = title
  $('error-message').textContent = err.message
  $('error-type').textContent = err.type
  $('error-id').textContent = err.id || '–'
  $('error').dataset.type = err.type
  $('overlay-error').hidden = false
  $('error-done').focus()
}

let noticeTimer
function showNotice(text) {
  clearTimeout(noticeTimer)
  $('notice').textContent = text
  $('notice').hidden = false
  noticeTimer = setTimeout(() => { $('notice').hidden = true }, NOTICE_MS)
}

function confirm(text, onYes) {
  $('confirm-text').textContent = text
  ui.onConfirm = onYes
  $('overlay-confirm').hidden = false
}

// ---------------------------------------------------------------------------
// Staff login

function login() {
  const pin = staffPin
  if (ui.loginPinShown && pin !== '' && !STAFF_PIN.test(pin)) {
    $('login-hint').textContent = 'A staff PIN has 4 to 12 digits.'
    return
  }
  runOperation({
    kind: 'login',
    path: '/staff/login',
    body: pin ? { pin } : {},
    tap: true,
    title: 'Tap YOUR staff wristband',
    detail: 'Log in',
    show: (data) => {
      const staff = data && typeof data === 'object' && 'staff' in data ? data.staff : data
      resetLoginPin()
      $('login-hint').textContent = ''
      if (staff && ui.state) ui.state.staff = staff
      showNotice(staff?.name ? `Logged in: ${staff.name}` : 'Logged in')
    },
    handleError: (err) => {
      if (err.type === 'wrong_staff_pin' && pin === '') {
        // This wristband needs a PIN as well: ask for it, then the tap again.
        ui.loginPinShown = true
        $('login-hint').textContent = 'This login needs your PIN: type it, press Log in and tap again.'
        render()
        return true
      }
      resetLoginPin()
      return false
    },
  })
}

function resetLoginPin() {
  staffPin = ''
  $('staffpin-display').textContent = ''
}

async function confirmChainRecovery() {
  if (ui.working) return
  try {
    // Waits for the gateway's head: as long as an operation's answer at most.
    const { data } = await api('POST', '/recovery/confirm', {}, OPERATION_TIMEOUT_MS)
    showNotice(`Recovery confirmed: selling again from no. ${data?.nextSeq ?? '?'}`)
  } catch (err) {
    showError(err instanceof ApiError ? err : new ApiError(0, 'internal', String(err), ''))
  }
  pollState()
}

async function logout() {
  if (ui.working) return
  try {
    await api('POST', '/staff/logout', {}, STATE_TIMEOUT_MS)
    if (ui.state) ui.state.staff = null
    ui.loginPinShown = false
    resetLoginPin()
    showNotice('Logged out')
  } catch (err) {
    showError(err instanceof ApiError ? err : new ApiError(0, 'internal', String(err), ''), 'logout')
  }
  render()
}

// ---------------------------------------------------------------------------
// Polling /state

let pollTimer
let polling = false
async function pollState() {
  if (polling) return
  polling = true
  clearTimeout(pollTimer)
  try {
    const { data } = await api('GET', '/state', undefined, STATE_TIMEOUT_MS)
    ui.state = data && typeof data === 'object' ? data : null
    ui.serviceDown = false
  } catch {
    ui.serviceDown = true
  } finally {
    polling = false
    render()
    pollTimer = setTimeout(pollState, STATE_POLL_MS)
  }
}

// ---------------------------------------------------------------------------
// Wiring

function init() {
  topupAmount = moneyInput('topup-amount', render)
  ticketTopup = moneyInput('ticket-topup', render)
  shiftFloat = moneyInput('shift-float', render)
  shiftCounted = moneyInput('shift-counted', render)
  priceAmount = moneyInput('price-display', renderPrice)
  makeKeypad($('topup-pad'), 'topup', { decimal: true }, (k) => topupAmount.key(k))
  makeKeypad($('ticket-pad'), 'ticket', { decimal: true }, (k) => ticketTopup.key(k))
  makeKeypad($('shift-pad'), 'shift', { decimal: true }, (k) => (shiftOpen() ? shiftCounted : shiftFloat).key(k))
  makeKeypad($('price-pad'), 'price', { decimal: true }, (k) => priceAmount.key(k))
  makeKeypad($('staffpin-pad'), 'staffpin', { decimal: false }, staffPinKey)

  for (const cents of QUICK_TOPUPS) {
    const b = document.createElement('button')
    b.type = 'button'
    b.className = 'btn quick-btn'
    b.dataset.testid = `topup-quick-${cents}`
    b.textContent = money(cents)
    b.addEventListener('click', () => topupAmount.set(money(cents)))
    $('topup-quick').append(b)
  }

  const pinInput = inputEl('tagswitch-pin')
  for (const ch of [...PIN_ALPHABET, 'back', 'clear']) {
    const b = document.createElement('button')
    b.type = 'button'
    b.className = `key alpha-key${ch.length > 1 ? ' alpha-action' : ''}`
    b.dataset.testid = `pin-key-${ch}`
    b.textContent = ch === 'back' ? '⌫' : ch === 'clear' ? 'Clear' : ch
    b.addEventListener('click', () => {
      if (ch === 'back') pinInput.value = pinInput.value.slice(0, -1)
      else if (ch === 'clear') pinInput.value = ''
      else if (pinInput.value.length < 40) pinInput.value += ch
      renderTagSwitch()
    })
    $('tagswitch-keys').append(b)
  }
  pinInput.addEventListener('input', () => {
    pinInput.value = pinInput.value.toUpperCase()
    renderTagSwitch()
  })
  pinInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') switchTag()
  })

  for (const tab of document.querySelectorAll('#tabs .tab')) {
    tab.addEventListener('click', () => {
      if (ui.working) return
      const next = tab.dataset.screen ?? ''
      // A guest's balance is private: it does not wait on a screen nobody looks at.
      if (ui.screen === 'balance' && next !== 'balance') clearBalance()
      ui.screen = next
      render()
    })
  }

  $('cart-pay').addEventListener('click', pay)
  $('cart-clear').addEventListener('click', () => {
    ui.cart.clear()
    render()
  })
  $('cancel-last').addEventListener('click', confirmCancelLast)

  $('topup-cash').addEventListener('click', () => {
    const amount = topupAmount.cents()
    runOperation({ kind: 'topup', path: '/topup', body: { amount }, tap: true, title: 'Tap wristband', detail: `Cash top-up ${money(amount)}`, sub: 'Take the cash first.', done: (o) => { if (o.status === 'accepted' || o.status === 'offline') topupAmount.set('') } })
  })
  $('topup-card').addEventListener('click', () => {
    const amount = topupAmount.cents()
    runOperation({ kind: 'topup-card', path: '/topup/card', body: { amount }, tap: true, title: 'Tap wristband', detail: `Card top-up ${money(amount)}`, sub: 'Then the guest pays at the card terminal.', done: (o) => { if (o.status === 'accepted') topupAmount.set('') } })
  })
  $('cashout-go').addEventListener('click', () => {
    runOperation({ kind: 'cashout', path: '/cashout', body: {}, tap: true, title: 'Tap wristband', detail: 'Cash-out of the whole balance', sub: 'Pay out only when the screen says so.' })
  })
  $('ticket-clear').addEventListener('click', () => {
    ui.tickets.clear()
    ticketTopup.set('')
  })
  $('ticket-sell').addEventListener('click', sellTicket)
  $('tagswitch-go').addEventListener('click', switchTag)
  $('balance-check').addEventListener('click', () => {
    runOperation({ kind: 'balance', path: '/balance', body: {}, tap: true, title: 'Tap wristband', detail: 'Balance check', show: showBalance })
  })
  $('balance-clear').addEventListener('click', clearBalance)
  $('shift-open').addEventListener('click', () => {
    const register = ui.shiftRegister
    const float = shiftFloat.cents()
    runOperation({ kind: 'shift-open', path: '/shift/open', body: { register, float }, tap: true, title: 'Tap your staff wristband', detail: `Open the shift with a float of ${money(float)}`, done: (o) => { if (o.status !== 'rejected' && o.status !== 'pending') shiftFloat.set('') } })
  })
  $('shift-close').addEventListener('click', () => {
    const counted = shiftCounted.cents()
    runOperation({ kind: 'shift-close', path: '/shift/close', body: { counted }, tap: false, title: 'Closing the shift…', detail: `Counted ${money(counted)}`, done: (o) => { if (o.status !== 'rejected' && o.status !== 'pending') shiftCounted.set('') } })
  })

  $('login-start').addEventListener('click', login)
  $('login-with-pin').addEventListener('click', () => {
    ui.loginPinShown = true
    render()
  })
  $('logout').addEventListener('click', logout)
  $('chain-confirm').addEventListener('click', confirmChainRecovery)

  $('tap-cancel').addEventListener('click', abortTap)
  $('result-done').addEventListener('click', closeResult)
  $('error-done').addEventListener('click', () => {
    $('overlay-error').hidden = true
    render()
  })
  $('price-cancel').addEventListener('click', () => {
    $('overlay-price').hidden = true
    ui.priceProduct = null
  })
  $('price-add').addEventListener('click', () => {
    const p = ui.priceProduct
    $('overlay-price').hidden = true
    ui.priceProduct = null
    if (p) addToCart(p, 1, priceAmount.cents())
  })
  $('confirm-no').addEventListener('click', () => {
    $('overlay-confirm').hidden = true
    ui.onConfirm = null
  })
  $('confirm-yes').addEventListener('click', () => {
    $('overlay-confirm').hidden = true
    const run = ui.onConfirm
    ui.onConfirm = null
    run?.()
  })

  // A USB keyboard or a number pad works too: digits into the keypad of the screen.
  document.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement) return
    const handler = activeKeyHandler()
    if (!handler) return
    const key = /^[0-9]$/.test(event.key) ? event.key : event.key === '.' || event.key === ',' ? '.' : event.key === 'Backspace' ? 'back' : event.key === 'Escape' ? 'clear' : ''
    if (key) {
      event.preventDefault()
      handler(key)
    }
  })
  // The touchscreen has no use for the context menu (long press).
  document.addEventListener('contextmenu', (event) => event.preventDefault())

  render()
  void pollState()
  // The undo countdown ticks between polls too.
  setInterval(() => {
    if (ui.state?.lastSale) renderCart(allowed())
  }, 1000)
}

init()
