// The page's state: the last answer of GET /state (polled every second), what
// this page is doing, and what the till and the login allow. Every screen
// renders from this; after a change a screen calls render(), which redraws the
// whole page (app.js sets what that is, so no screen imports the page).
import { STATE_TIMEOUT_MS, api } from './api.js'

const STATE_POLL_MS = 1000
/** The most of one product in a cart or a ticket sale (and the most deposits back). */
export const MAX_QTY = 1000

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

export const ui = {
  /** The last answer of GET /state, null before the first. */
  state: null,
  /** Whether the last poll of /state failed. */
  serviceDown: false,
  /** The screen shown: a tab's name, 'login', 'loading' or 'none'. */
  screen: '',
  /** An operation of this page is waiting for its answer. */
  working: false,
  /** The cashier pressed Cancel on the tap prompt. */
  abortRequested: false,
}

let renderPage = () => {}
/** app.js: how the whole page is rendered from `ui`. */
export function setPageRenderer(renderer) {
  renderPage = renderer
}
/** Renders the whole page again (after /state, an operation or a key). */
export function render() {
  renderPage()
}

let pollTimer
let polling = false
/** GET /state now (and every second from then on), then render. */
export async function pollState() {
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

export const products = () => (Array.isArray(ui.state?.products) ? ui.state.products : Array.isArray(ui.state?.config?.products) ? ui.state.config.products : [])
export const productKind = (p) => p.kind ?? 'item'
export const isFixedPrice = (p) => p.fixedPrice !== false

/** The till profile in force; a config without one allows what its two flags say (daemon/profile.ts). */
export function profile() {
  const s = ui.state
  if (s?.profile) return s.profile
  if (!s?.config) return null
  return {
    id: 'default', name: s.config.booth, sale: !!s.config.saleAllowed, topupCash: !!s.config.topupAllowed, topupCard: !!s.config.topupAllowed,
    cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 0,
  }
}

export const staffRequired = () => ui.state?.staffRequired === true
export const isOffline = () => ui.state !== null && (ui.state.offline === true || (ui.state.offline === undefined && ui.state.connected === false))

/** The logged-in staff may do it (always, when this event has no staff logins). */
function roleAllows(action) {
  if (!staffRequired()) return true
  const roles = ui.state?.staff?.roles
  return Array.isArray(roles) && ROLES[action].some((r) => roles.includes(r))
}

/** What this till and this login may do at all: decides which tabs and buttons exist. */
export function allowed() {
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

export const shiftOpen = () => !!ui.state?.shift
/** Cash top-ups, cash-outs and tickets need an open shift where cash goes into a register. */
export const needsShift = () => !!profile()?.cashRegister && !shiftOpen()

/** Something is running (this page's operation, or another client's): the kiosk would answer busy. */
export const blocked = () => ui.working || ui.state?.busy === true
