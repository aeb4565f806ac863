// The page's elements and the pieces every screen builds them from: buttons,
// keypads and typed amounts. Text goes in with textContent, never as HTML.
import { money, parseMoney, typeMoney } from './money.js'

export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
export const btn = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id))
export const inputEl = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id))

/** A `<button type="button">` with its class, data-testid (none when empty) and text. */
export function button(className, testid, text, onClick) {
  const b = document.createElement('button')
  b.type = 'button'
  b.className = className
  if (testid) b.dataset.testid = testid
  b.textContent = text
  if (onClick) b.addEventListener('click', onClick)
  return b
}

/** An element with its class and text, e.g. the name and price spans of a tile. */
export function element(tag, className, text) {
  const el = document.createElement(tag)
  el.className = className
  el.textContent = text
  return el
}

/**
 * A keypad of buttons in `container`; `prefix` makes the data-testids unique
 * (`topup-key-7`, `topup-key-back`). `onKey` gets '0'-'9', '.', 'back', 'clear'.
 */
export function makeKeypad(container, prefix, { decimal }, onKey) {
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', decimal ? '.' : 'clear', '0', 'back']
  for (const key of keys) {
    const b = button('key', `${prefix}-key-${key === '.' ? 'dot' : key}`, key === 'back' ? '⌫' : key === 'clear' ? 'C' : key, () => onKey(key))
    b.dataset.key = key
    if (key === 'back') b.setAttribute('aria-label', 'Delete')
    if (key === 'clear') b.setAttribute('aria-label', 'Clear')
    container.append(b)
  }
}

/** An amount typed on its own keypad (`#${prefix}-pad`, keys `${prefix}-key-…`) and shown in `displayId`. */
export function moneyPad(prefix, displayId, onChange) {
  const input = moneyInput(displayId, onChange)
  makeKeypad($(`${prefix}-pad`), prefix, { decimal: true }, (k) => input.key(k))
  return input
}

/** A typed amount with its display element; `onChange` runs after every change. */
export function moneyInput(displayId, onChange) {
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
