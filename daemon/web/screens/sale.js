// The sale screen: the product tiles, the cart (a deposit's "back" makes a
// line negative, and a cart whose total is negative is a return: the wristband
// gets the amount), Undo last within the till's cancel window, and the price
// pad for products without a fixed price.
import { confirm, showNotice } from '../lib/dialogs.js'
import { $, btn, button, element, moneyPad } from '../lib/dom.js'
import { money } from '../lib/money.js'
import { runOperation } from '../lib/operation.js'
import { MAX_QTY, allowed, blocked, isFixedPrice, productKind, products, render, ui } from '../lib/state.js'

const MAX_LINES = 100

/** Cart lines by key: fixed-price products by id, free-price ones by id and price. */
const cart = /** @type {Map<string, {key: string, product: any, qty: number, unitPrice: number, free: boolean}>} */ (new Map())
/** The signature of the product list last rendered (re-render only on change). */
let productsKey = ''
/** Which product the price dialog is for. */
let priceProduct = null
let priceAmount

function productTile(p) {
  const kind = productKind(p)
  const tile = element('div', `tile tile-${kind}`, '')
  const add = button('tile-add', `product-${p.id}`, '', () => addToCart(p, 1))
  add.dataset.product = p.id
  const price = isFixedPrice(p) ? money(p.price) : p.price > 0 ? `≤ ${money(p.price)}` : 'price?'
  add.append(element('span', 'tile-name', p.name), element('span', 'tile-price', price))
  const badges = []
  if (Array.isArray(p.restrictions) && p.restrictions.length > 0) badges.push(['restricted', `not ${p.restrictions.join(', ')}`])
  if (p.voucherEligible) badges.push(['voucher', 'voucher'])
  for (const [cls, text] of badges) add.append(element('span', `badge badge-${cls}`, text))
  tile.append(add)
  if (kind === 'deposit') {
    const back = button('tile-return', `product-return-${p.id}`, '↩ back', () => addToCart(p, -1))
    back.setAttribute('aria-label', `Return ${p.name}`)
    tile.append(back)
  }
  return tile
}

function renderProducts() {
  const list = products().filter((p) => productKind(p) !== 'ticket')
  const key = JSON.stringify(list)
  if (key !== productsKey) {
    productsKey = key
    const grid = $('products')
    grid.replaceChildren(...list.map(productTile))
    if (list.length === 0) grid.append(element('p', 'big-note', 'No products in this till\'s catalog.'))
    // Lines whose product is gone or changed price cannot be sold as they are.
    for (const [k, line] of cart) {
      const now = list.find((p) => p.id === line.product.id)
      if (!now || (isFixedPrice(now) && now.price !== line.unitPrice) || isFixedPrice(now) !== !line.free) cart.delete(k)
    }
  }
  for (const b of document.querySelectorAll('#products button')) b.disabled = blocked()
}

function cartTotal() {
  let total = 0
  for (const line of cart.values()) total += line.qty * line.unitPrice
  return total
}

function addToCart(p, delta, unitPrice) {
  const free = !isFixedPrice(p)
  if (free && unitPrice === undefined) return openPriceDialog(p)
  const price = free ? unitPrice : p.price
  const key = free ? `${p.id}@${price}` : p.id
  const line = cart.get(key) ?? { key, product: p, qty: 0, unitPrice: price, free }
  if (!cart.has(key) && cart.size >= MAX_LINES) return showNotice('The cart is full.')
  setQty(line, line.qty + delta)
}

function setQty(line, qty) {
  const deposit = productKind(line.product) === 'deposit'
  const next = Math.max(deposit ? -MAX_QTY : 0, Math.min(MAX_QTY, qty))
  if (next === 0) cart.delete(line.key)
  else cart.set(line.key, { ...line, qty: next })
  render()
}

function cartLine(line) {
  const li = element('li', `cart-line${line.qty < 0 ? ' is-return' : ''}`, '')
  li.dataset.testid = `cart-line-${line.key}`
  const dec = button('qty-btn', `cart-dec-${line.key}`, '−', () => setQty(line, line.qty - 1))
  dec.setAttribute('aria-label', `One ${line.product.name} less`)
  const qty = element('span', 'line-qty', String(line.qty))
  qty.dataset.testid = `cart-qty-${line.key}`
  const inc = button('qty-btn', `cart-inc-${line.key}`, '+', () => setQty(line, line.qty + 1))
  inc.setAttribute('aria-label', `One ${line.product.name} more`)
  for (const b of [dec, inc]) b.disabled = blocked()
  const name = element('span', 'line-name', line.qty < 0 ? `${line.product.name} back` : line.product.name)
  li.append(name, dec, qty, inc, element('span', 'line-sum', money(line.qty * line.unitPrice)))
  return li
}

function renderCart(can) {
  const lines = [...cart.values()]
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
  const lines = [...cart.values()].map((l) => (l.free ? { product: l.product.id, qty: l.qty, unitPrice: l.unitPrice } : { product: l.product.id, qty: l.qty }))
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
      if (outcome.status === 'accepted' || outcome.status === 'offline') cart.clear()
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
  priceProduct = p
  $('price-title').textContent = `Price of ${p.name}`
  $('price-hint').textContent = p.price > 0 ? `At most ${money(p.price)}` : ''
  priceAmount.set('')
  $('overlay-price').hidden = false
}

function renderPrice() {
  const p = priceProduct
  if (!p) return
  const cents = priceAmount.cents()
  btn('price-add').disabled = priceAmount.text === '' || (p.price > 0 && cents > p.price)
}

function closePriceDialog() {
  $('overlay-price').hidden = true
  priceProduct = null
}

/** While the price pad is open, a keyboard's keys go there, whatever the screen. */
export function priceDialogKeys() {
  return $('overlay-price').hidden ? null : (k) => priceAmount.key(k)
}

export const saleScreen = {
  init() {
    priceAmount = moneyPad('price', 'price-display', renderPrice)
    $('cart-pay').addEventListener('click', pay)
    $('cart-clear').addEventListener('click', () => {
      cart.clear()
      render()
    })
    $('cancel-last').addEventListener('click', confirmCancelLast)
    $('price-cancel').addEventListener('click', closePriceDialog)
    $('price-add').addEventListener('click', () => {
      const p = priceProduct
      closePriceDialog()
      if (p) addToCart(p, 1, priceAmount.cents())
    })
    // The undo countdown ticks between polls too.
    setInterval(() => {
      if (ui.state?.lastSale) renderCart(allowed())
    }, 1000)
  },
  render(can) {
    renderProducts()
    renderCart(can)
  },
}
