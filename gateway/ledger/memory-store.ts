// The LedgerStore in memory: Maps and arrays instead of SQLite tables, for
// tests and simulation. It keeps what sqlite-store.ts keeps over today's schema
// and refuses what the schema refuses (unique ids, keys and payment
// references, postings naming missing accounts, a cursor not at the seq), so
// both pass the one contract suite (testing/store-contract.ts).
//
// Atomicity is an undo log: every change appends how to take it back, and a
// batch that throws replays the log backwards (a crash mid-batch = nothing of
// the batch). Records in the Maps are never changed in place, only replaced,
// so an undo is putting the old record back.
import { createHash } from 'node:crypto'
import { GENESIS_HASH, taxOfGross, type Envelope } from '../../device-protocol/index.js'
import type { RecordedTransaction, TransactionRow, TransactionWrite } from './core.js'
import type { CancelTarget, DepositAccountFacts, OfflineSpent, ShiftFacts } from './rules.js'
import type { LedgerStore, StoredExternalBooking } from './store.js'
import { MAX_ORDERS_LISTED, RECEIPT_ID } from './orders.js'
import { cancelTargetOf, ledgerStats, transactionRecord } from './records.js'
import type { AccountKind, CustomerOrder, KioskCursor, LedgerStats, OrderLine, PostingRecord, Receipt, TransactionRecord } from './types.js'

/** The accounts table's CHECK: a kind outside it is refused, as SQLite refuses it. */
const ACCOUNT_KINDS: ReadonlySet<string> = new Set(
  Object.keys({
    customer: true,
    revenue: true,
    cash: true,
    clearing: true,
    prepaid: true,
    donation: true,
    payout: true,
    deposit: true,
    voucher: true,
    register: true,
    vault: true,
    imbalance: true,
    expense: true,
  } satisfies Record<AccountKind, true>),
)

const EXTERNAL_KINDS: ReadonlySet<string> = new Set(['topup_online', 'topup_card', 'prepayment', 'prepaid_transfer', 'card_payment', 'payout', 'donation', 'refund'])

/** As ledger.ts: at most this many violations of one kind per check. */
const MAX_VIOLATIONS_PER_CHECK = 20

interface Account {
  kind: string
  ref: string
  balance: number
}

interface StoredTransaction extends TransactionRow {
  cancelledBy: string | null
}

interface LineItem {
  lineNo: number
  product: string
  name: string
  kind: string
  qty: number
  unitPrice: number
  total: number
  taxRate: number
  tax: number
}

interface Shift {
  id: string
  register: string
  kiosk: string
  staff: string | null
  openedAt: number
  float: number
  closedBy: string | null
  closedAt: number | null
  counted: number | null
  expected: number | null
  difference: number | null
}

interface Debt {
  txId: string
  uid: string
  kiosk: string
  shortfall: number
  bookedAt: number
}

interface OfflineSale {
  bookedAt: number
  tag: string
  amount: number
}

/** SQLite's BINARY collation on ASCII ids: code-unit order, not the locale's. */
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

export function createMemoryLedgerStore(): LedgerStore {
  const accounts = new Map<string, Account>()
  const cursors = new Map<string, KioskCursor>()
  const transactions = new Map<string, StoredTransaction>()
  /** Postings by the id of their kiosk transaction or external booking, in booking order. */
  const postings = new Map<string, readonly PostingRecord[]>()
  const lineItems = new Map<string, readonly LineItem[]>()
  const paymentRefs = new Map<string, string>()
  const receiptIds = new Set<string>()
  /** The last accepted sale or return of each kiosk (what a cancel may undo). */
  const lastCart = new Map<string, string>()
  /** Accepted offline sales of each kiosk in booking order (what the offline caps count). */
  const offlineSales = new Map<string, OfflineSale[]>()
  const shifts = new Map<string, Shift>()
  const debts = new Map<string, Debt>()
  const externals = new Map<string, StoredExternalBooking>()
  const externalsByRef = new Map<string, string>()
  const externalReceipts = new Set<string>()

  // --- Undo log ---
  let undoLog: Array<() => void> | undefined

  function logUndo(undo: () => void): void {
    undoLog?.push(undo)
  }

  function put<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key)
    const old = map.get(key)
    map.set(key, value)
    logUndo(() => (had ? map.set(key, old as V) : map.delete(key)))
  }

  /** Appends to a list kept in a Map (an undo pops it again: the log is replayed last first). */
  function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
    const list = map.get(key)
    if (list === undefined) put(map, key, [value])
    else {
      list.push(value)
      logUndo(() => void list.pop())
    }
  }

  function add<V>(set: Set<V>, value: V): void {
    if (set.has(value)) return
    set.add(value)
    logUndo(() => set.delete(value))
  }

  /**
   * A nested call is a savepoint of the outer batch (as better-sqlite3 nests
   * transactions): if it throws, its own changes are undone and the outer
   * batch decides about the rest.
   */
  function batch<T>(fn: () => T): T {
    const outer = undoLog !== undefined
    const log = (undoLog ??= [])
    const mark = log.length
    try {
      const result = fn()
      if (typeof (result as { then?: unknown } | null)?.then === 'function')
        throw new TypeError('a store batch must be synchronous: its function returned a promise')
      if (!outer) undoLog = undefined
      return result
    } catch (err) {
      for (let i = log.length - 1; i >= mark; i--) log[i]!()
      log.length = mark
      if (!outer) undoLog = undefined
      throw err
    }
  }

  // --- Writes ---
  function addPostings(id: string, records: readonly PostingRecord[]): void {
    for (const p of records) {
      const account = accounts.get(p.account)
      if (account === undefined) throw new Error(`posting of ${id} names unknown account ${p.account}`)
      if (!Number.isSafeInteger(p.amount)) throw new Error(`posting of ${id} to ${p.account} is not integer cents`)
    }
    put(postings, id, [...(postings.get(id) ?? []), ...records.map((p) => ({ account: p.account, amount: p.amount }))])
    for (const p of records) {
      const account = accounts.get(p.account)!
      put(accounts, p.account, { ...account, balance: account.balance + p.amount })
    }
  }

  function checkRow(row: TransactionRow): void {
    const cursor = cursors.get(row.kiosk)
    if (cursor === undefined) throw new Error(`kiosk ${row.kiosk} has no chain in the store`)
    if (transactions.has(row.id)) throw new Error(`transaction ${row.id} is recorded already`)
    if (cursor.nextSeq !== row.seq) throw new Error(`kiosk ${row.kiosk} cursor is at seq ${cursor.nextSeq}, not ${row.seq}`)
    if (!Number.isSafeInteger(row.amount) || row.amount < 0) throw new Error(`transaction ${row.id}: amount must be integer cents >= 0`)
    if ((row.status === 'accepted') !== (row.reason === null)) throw new Error(`transaction ${row.id}: a reason belongs to a rejected transaction only`)
    if ((row.status === 'accepted') !== (row.receiptId !== null)) throw new Error(`transaction ${row.id}: a receipt id belongs to an accepted transaction only`)
    if (row.receiptId !== null && receiptIds.has(row.receiptId)) throw new Error(`receipt id of ${row.id} is taken`)
    if (row.paymentRef !== null && paymentRefs.has(row.paymentRef)) throw new Error(`card payment of ${row.id} is booked already (${paymentRefs.get(row.paymentRef)})`)
  }

  function applyStoreEffects(write: TransactionWrite): void {
    const { tx, row, decision } = write
    if (decision.status !== 'accepted') return
    for (const effect of decision.effects) {
      switch (effect.kind) {
        case 'cancelled': {
          const target = transactions.get(effect.txId)
          if (target !== undefined) put(transactions, target.id, { ...target, cancelledBy: tx.id })
          break
        }
        case 'open_shift':
          if (shifts.has(tx.id)) throw new Error(`shift ${tx.id} exists already`)
          for (const s of shifts.values())
            if (s.closedBy === null && (s.register === effect.register || s.kiosk === row.kiosk))
              throw new Error(`shift ${s.id} is still open at register ${s.register} / kiosk ${s.kiosk}`)
          put(shifts, tx.id, {
            id: tx.id,
            register: effect.register,
            kiosk: row.kiosk,
            staff: tx.staff ?? null,
            openedAt: row.bookedAt,
            float: effect.float,
            closedBy: null,
            closedAt: null,
            counted: null,
            expected: null,
            difference: null,
          })
          break
        case 'close_shift': {
          const shift = shifts.get(effect.shiftId)
          if (shift !== undefined)
            put(shifts, shift.id, {
              ...shift,
              closedBy: tx.id,
              closedAt: row.bookedAt,
              counted: effect.counted,
              expected: effect.expected,
              difference: effect.difference,
            })
          break
        }
        case 'debt':
          if (!(effect.shortfall > 0)) throw new Error(`debt of ${tx.id} must be above zero`)
          put(debts, tx.id, { txId: tx.id, uid: effect.uid, kiosk: row.kiosk, shortfall: effect.shortfall, bookedAt: row.bookedAt })
          break
        case 'replace_wristband':
          // A debt moves with the balance: the new wristband is below zero now, and only a debt allows that.
          for (const debt of [...debts.values()]) if (debt.uid === effect.oldUid) put(debts, debt.txId, { ...debt, uid: effect.newUid })
          break
        // vouchers and register_wristband are the registry's (RegistryFacts.applyBooking); alerts are the ledger's.
        default:
          break
      }
    }
  }

  function commitTransaction(write: TransactionWrite): void {
    batch(() => {
      const row: TransactionRow = { ...write.row }
      checkRow(row)
      const { decision } = write
      if (decision.status === 'accepted') {
        const sum = decision.postings.reduce((s, p) => s + p.amount, 0)
        if (sum !== 0) throw new Error(`unbalanced postings for ${row.id}`)
      }
      put(transactions, row.id, { ...row, cancelledBy: null })
      if (row.receiptId !== null) add(receiptIds, row.receiptId)
      if (row.paymentRef !== null) put(paymentRefs, row.paymentRef, row.id)
      if (decision.status === 'accepted') {
        addPostings(row.id, decision.postings)
        applyStoreEffects(write)
        if (decision.lines !== undefined && decision.lines.length > 0)
          put(
            lineItems,
            row.id,
            decision.lines.map((line, lineNo) => ({
              lineNo,
              product: line.product,
              name: line.name,
              kind: line.kind,
              qty: line.qty,
              unitPrice: line.unitPrice,
              total: line.total,
              taxRate: line.taxRate,
              tax: taxOfGross(line.total, line.taxRate),
            })),
          )
        if (row.type === 'sale' || row.type === 'return') put(lastCart, row.kiosk, row.id)
        if (row.type === 'sale' && row.offline)
          append(offlineSales, row.kiosk, { bookedAt: row.bookedAt, tag: row.tag, amount: row.amount })
      }
      put(cursors, row.kiosk, { nextSeq: row.seq + 1, lastHash: row.hash })
    })
  }

  function commitExternal(booking: StoredExternalBooking, records: readonly PostingRecord[]): void {
    batch(() => {
      if (externals.has(booking.id)) throw new Error(`external booking ${booking.id} exists already`)
      if (externalsByRef.has(booking.ref)) throw new Error(`ref ${booking.ref} is booked already`)
      if (externalReceipts.has(booking.receiptId)) throw new Error(`receipt id of external booking ${booking.id} is taken`)
      if (!EXTERNAL_KINDS.has(booking.kind)) throw new Error(`external booking kind ${booking.kind} is unknown`)
      if (!Number.isSafeInteger(booking.amount) || booking.amount <= 0) throw new Error(`external booking ${booking.id}: amount must be above zero`)
      put(externals, booking.id, { ...booking })
      put(externalsByRef, booking.ref, booking.id)
      add(externalReceipts, booking.receiptId)
      addPostings(booking.id, records)
    })
  }

  function ensureAccount(id: string, kind: AccountKind, ref: string): void {
    if (accounts.has(id)) return
    if (!ACCOUNT_KINDS.has(kind)) throw new Error(`account kind ${kind} is unknown`)
    batch(() => put(accounts, id, { kind, ref, balance: 0 }))
  }

  function ensureKiosk(kioskId: string): void {
    if (cursors.has(kioskId)) return
    batch(() => put(cursors, kioskId, { nextSeq: 1, lastHash: GENESIS_HASH }))
  }

  // --- Reads ---
  const postingsOf = (id: string): PostingRecord[] => (postings.get(id) ?? []).map((p) => ({ account: p.account, amount: p.amount }))

  function recorded(id: string): RecordedTransaction | undefined {
    const row = transactions.get(id)
    if (row === undefined) return undefined
    return {
      id: row.id,
      kiosk: row.kiosk,
      seq: row.seq,
      status: row.status,
      reason: row.reason,
      balanceAfter: row.balanceAfter,
      resultExtras: row.resultExtras,
      hash: row.hash,
    }
  }

  function offlineSpent(kioskId: string, sinceMs: number, uid: string): OfflineSpent {
    let tagCents = 0
    let kioskCents = 0
    for (const sale of offlineSales.get(kioskId) ?? []) {
      if (!(sale.bookedAt > sinceMs)) continue
      kioskCents += sale.amount
      if (sale.tag === uid) tagCents += sale.amount
    }
    return { tagCents, kioskCents }
  }

  function depositAccounts(): DepositAccountFacts[] {
    return [...accounts]
      .filter(([, a]) => a.kind === 'deposit')
      .sort(([a], [b]) => byId(a, b))
      .map(([account, a]) => ({ account, balance: a.balance }))
  }

  function openShiftWhere(match: (s: Shift) => boolean): Shift | undefined {
    for (const s of shifts.values()) if (s.closedBy === null && match(s)) return s
    return undefined
  }

  function openShift(kioskId: string): ShiftFacts | undefined {
    const shift = openShiftWhere((s) => s.kiosk === kioskId)
    return shift === undefined ? undefined : { id: shift.id, register: shift.register }
  }

  function cancelTarget(id: string): CancelTarget | undefined {
    const row = transactions.get(id)
    if (row === undefined) return undefined
    return cancelTargetOf(row, { cancelled: row.cancelledBy !== null, isLast: lastCart.get(row.kiosk) === row.id, postings: postingsOf(row.id) })
  }


  function transaction(id: string): TransactionRecord | undefined {
    const row = transactions.get(id)
    return row === undefined ? undefined : transactionRecord(row, postingsOf(row.id))
  }

  function sumOfAllBalances(): number {
    let total = 0
    for (const a of accounts.values()) total += a.balance
    return total
  }

  const sortedAccounts = (): Array<[string, Account]> => [...accounts].sort(([a], [b]) => byId(a, b))

  function stats(): LedgerStats {
    const counts = new Map<string, { status: string; reason: string | null; n: number }>()
    for (const row of transactions.values()) {
      const key = `${row.status}:${row.reason ?? ''}`
      const entry = counts.get(key) ?? { status: row.status, reason: row.reason, n: 0 }
      entry.n += 1
      counts.set(key, entry)
    }
    return ledgerStats(counts.values(), sortedAccounts().map(([, a]) => a), externals.size)
  }

  /** The checks of ledger.ts's checkInvariants, over the Maps, with its messages. */
  function checkInvariants(): string[] {
    const violations: string[] = []
    const lim = MAX_VIOLATIONS_PER_CHECK
    const limited = <T>(items: Iterable<T>, report: (item: T) => string | undefined): void => {
      let n = 0
      for (const item of items) {
        if (n >= lim) break
        const message = report(item)
        if (message !== undefined) {
          violations.push(message)
          n += 1
        }
      }
    }
    const sum = (records: readonly PostingRecord[]) => records.reduce((s, p) => s + p.amount, 0)

    limited(postings, ([txId, records]) => (sum(records) !== 0 ? `postings of ${txId} sum to ${sum(records)}, not 0` : undefined))
    const byAccount = new Map<string, number>()
    for (const records of postings.values()) for (const p of records) byAccount.set(p.account, (byAccount.get(p.account) ?? 0) + p.amount)
    limited(sortedAccounts(), ([id, a]) => {
      const s = byAccount.get(id) ?? 0
      return a.balance !== s ? `account ${id} has balance ${a.balance} but its postings sum to ${s}` : undefined
    })
    const total = sumOfAllBalances()
    if (total !== 0) violations.push(`sum of all balances is ${total}, not 0`)
    // A customer account may be below zero only through offline sales, each flagged as a debt.
    const inDebt = new Set([...debts.values()].map((d) => d.uid))
    limited(sortedAccounts(), ([id, a]) =>
      (a.kind === 'customer' || a.kind === 'prepaid') && a.balance < 0 && !(a.kind === 'customer' && inDebt.has(a.ref))
        ? `${a.kind} account ${id} is negative (${a.balance})`
        : undefined,
    )
    // Deposits paid back never exceed deposits taken, at any booth (rules.ts depositPostings).
    limited(sortedAccounts(), ([id, a]) =>
      a.kind === 'deposit' && a.balance < 0 ? `deposit account ${id} is negative (${a.balance}): more deposits paid back than taken` : undefined,
    )
    limited(postings, ([txId, records]) =>
      !transactions.has(txId) && !externals.has(txId) && records.length > 0
        ? `${records.length} postings of ${txId}, which is neither a kiosk transaction nor an external booking`
        : undefined,
    )
    limited(transactions.keys(), (id) => (externals.has(id) ? `${id} is both a kiosk transaction and an external booking` : undefined))
    limited(externals.values(), (e) => {
      const records = postings.get(e.id) ?? []
      const moved = records.reduce((s, p) => (p.amount > 0 ? s + p.amount : s), 0)
      return records.length < 2 || moved !== e.amount
        ? `external booking ${e.id} has ${records.length} postings moving ${moved}, recorded amount ${e.amount}`
        : undefined
    })
    limited(transactions.values(), (row) =>
      row.receiptId !== null && externalReceipts.has(row.receiptId) ? `receipt id of ${row.id} is also an external booking's` : undefined,
    )
    limited(transactions.values(), (row) => {
      const c = postings.get(row.id)?.length ?? 0
      return (row.status === 'accepted' && c < 2) || (row.status === 'rejected' && c > 0) ? `${row.status} transaction ${row.id} has ${c} postings` : undefined
    })
    const chains = new Map<string, { n: number; mn: number; mx: number; tail: StoredTransaction }>()
    for (const row of transactions.values()) {
      const chain = chains.get(row.kiosk)
      if (chain === undefined) chains.set(row.kiosk, { n: 1, mn: row.seq, mx: row.seq, tail: row })
      else {
        chain.n += 1
        chain.mn = Math.min(chain.mn, row.seq)
        if (row.seq > chain.mx) {
          chain.mx = row.seq
          chain.tail = row
        }
      }
    }
    for (const [id, cursor] of [...cursors].sort(([a], [b]) => byId(a, b))) {
      const chain = chains.get(id)
      const n = chain?.n ?? 0
      if (n !== cursor.nextSeq - 1 || (chain !== undefined && (chain.mn !== 1 || chain.mx !== n)))
        violations.push(`kiosk ${id}: ${n} transactions with seq ${chain?.mn ?? '-'}..${chain?.mx ?? '-'} but next seq ${cursor.nextSeq}`)
      if (cursor.lastHash !== (chain?.tail.hash ?? GENESIS_HASH)) violations.push(`kiosk ${id}: last hash is not the hash of its last transaction`)
    }
    for (const row of transactions.values()) {
      if (createHash('sha256').update(row.envelope, 'utf8').digest('hex') !== row.hash) {
        violations.push(`transaction ${row.id}: stored envelope does not match its hash`)
        if (violations.length > 4 * lim) break
      }
    }
    return violations
  }

  // --- Orders (what sqlite-store.ts reads through orders.ts) ---
  function linesOf(row: StoredTransaction): OrderLine[] {
    const items = lineItems.get(row.id)
    if (items !== undefined && items.length > 0)
      return items.map((i) => ({ product: i.product, name: i.name, qty: i.qty, unitPrice: i.unitPrice, ...(i.taxRate > 0 ? { taxRate: i.taxRate } : {}) }))
    return (JSON.parse(row.envelope) as Envelope).tx.lines.map((l) => ({ product: l.product, name: l.product, qty: l.qty, unitPrice: l.unitPrice }))
  }

  function orderOfTx(row: StoredTransaction): CustomerOrder {
    const order: CustomerOrder = {
      id: row.id,
      receiptId: row.receiptId!,
      kind: row.type,
      amount: row.amount,
      bookedAt: row.bookedAt,
      kiosk: row.kiosk,
      booth: row.booth,
      lines: linesOf(row),
    }
    if (row.type === 'cancel') {
      const ref = (JSON.parse(row.envelope) as Envelope).tx.ref
      const target = typeof ref === 'string' ? transactions.get(ref) : undefined
      if (target !== undefined) order.cancels = { receiptId: target.receiptId!, kind: target.type, lines: linesOf(target) }
    }
    return order
  }

  const orderOfExternal = (e: StoredExternalBooking): CustomerOrder => ({
    id: e.id,
    receiptId: e.receiptId,
    kind: e.kind,
    amount: e.amount,
    bookedAt: e.bookedAt,
    lines: [],
    customerDelta: (postings.get(e.id) ?? []).filter((p) => p.account === `customer:${e.customer}`).reduce((sum, p) => sum + p.amount, 0),
  })

  function customerOrders(uid: string): CustomerOrder[] {
    if (typeof uid !== 'string' || uid.length === 0) return []
    // The Maps keep insertion order: the index stands for SQLite's rowid (newest written first on equal times).
    const entries: Array<{ order: CustomerOrder; seq: number; external: number }> = []
    let seq = 0
    for (const row of transactions.values()) {
      seq += 1
      if (row.tag === uid && row.status === 'accepted') entries.push({ order: orderOfTx(row), seq, external: 0 })
    }
    seq = 0
    for (const e of externals.values()) {
      seq += 1
      if (e.customer === uid) entries.push({ order: orderOfExternal(e), seq, external: 1 })
    }
    return entries
      .sort((a, b) => b.order.bookedAt - a.order.bookedAt || b.external - a.external || b.seq - a.seq)
      .slice(0, MAX_ORDERS_LISTED)
      .map((entry) => entry.order)
  }

  function receipt(receiptId: string): Receipt | undefined {
    if (typeof receiptId !== 'string' || !RECEIPT_ID.test(receiptId)) return undefined
    for (const row of transactions.values()) if (row.receiptId === receiptId) return { ...orderOfTx(row), customerUid: row.tag }
    for (const e of externals.values()) if (e.receiptId === receiptId) return { ...orderOfExternal(e), customerUid: e.customer }
    return undefined
  }

  return {
    batch,
    customerOrders,
    receipt,
    cursor: (kioskId) => {
      const c = cursors.get(kioskId)
      return c === undefined ? undefined : { ...c }
    },
    recorded,
    isExternalBooking: (id) => externals.has(id),
    account: (id) => {
      const a = accounts.get(id)
      return a === undefined ? undefined : { kind: a.kind, balance: a.balance }
    },
    offlineSpent,
    depositAccounts,
    cardPaymentBooked: (ref) => paymentRefs.has(ref),
    openShift,
    registerBusy: (register) => openShiftWhere((s) => s.register === register) !== undefined,
    cancelTarget,
    ensureAccount,
    ensureKiosk,
    commitTransaction,
    commitExternal,
    externalBooking: (id) => {
      const e = externals.get(id)
      return e === undefined ? undefined : { ...e }
    },
    externalBookingByRef: (ref) => {
      const id = externalsByRef.get(ref)
      const e = id === undefined ? undefined : externals.get(id)
      return e === undefined ? undefined : { ...e }
    },
    postingsOf,
    transaction,
    sumOfAllBalances,
    stats,
    checkInvariants,
  }
}
