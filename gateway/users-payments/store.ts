// The users-and-payments API's own tables, on the gateway's SQLite database (the
// same connection as the ledger, so that marking a payment booked and booking it
// happen in one SQLite transaction). Money is integer cents. The tables are
// made by the gateway database's migrations (gateway/migrations.ts).
import { randomBytes } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { sqlStateOf } from '../postgres/connection.js'

/** Our status of a payment row before Stripe gave it an intent. */
export const CREATING_STATUS = 'creating'

export interface UserRow {
  id: string
  userName: string
  email: string
  passwordHash: string
  customerId: string | null
  linkedUid: string | null
  linkedAt: number | null
  createdAt: number
  /** The account that created this one with POST /user; null when the user registered. */
  createdBy: string | null
}

export interface PaymentRow {
  userId: string
  cuid: string
  amount: number
  currency: string
  intentId: string | null
  /** Stripe's payment intent status, or 'creating'. */
  status: string
  paymentMethod: string | null
  clientSecret: string | null
  /** The ledger booking id once booked (exactly once). */
  bookingId: string | null
  /** The account the money went to: prepaid:{userId} or customer:{uid}. */
  bookedTo: string | null
  createdAt: number
  updatedAt: number
}

interface UserDbRow {
  id: string
  user_name: string
  email: string
  password_hash: string
  customer_id: string | null
  linked_uid: string | null
  linked_at: number | null
  created_at: number
  created_by: string | null
}

interface PaymentDbRow {
  user_id: string
  cuid: string
  amount: number
  currency: string
  intent_id: string | null
  status: string
  payment_method: string | null
  client_secret: string | null
  booking_id: string | null
  booked_to: string | null
  created_at: number
  updated_at: number
}

function toUser(r: UserDbRow): UserRow {
  return {
    id: r.id,
    userName: r.user_name,
    email: r.email,
    passwordHash: r.password_hash,
    customerId: r.customer_id,
    linkedUid: r.linked_uid,
    linkedAt: r.linked_at,
    createdAt: r.created_at,
    createdBy: r.created_by,
  }
}

function toPayment(r: PaymentDbRow): PaymentRow {
  return {
    userId: r.user_id,
    cuid: r.cuid,
    amount: r.amount,
    currency: r.currency,
    intentId: r.intent_id,
    status: r.status,
    paymentMethod: r.payment_method,
    clientSecret: r.client_secret,
    bookingId: r.booking_id,
    bookedTo: r.booked_to,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

/** Thrown by insertUser when the email is already registered. */
export class EmailTakenError extends Error {
  constructor() {
    super('email already registered')
    this.name = 'EmailTakenError'
  }
}

/** A unique key on `column` was broken: SQLite's code and its message naming the column, or PostgreSQL's SQLSTATE and its message naming the constraint (users_api_users_email_key). */
function isUniqueViolation(err: unknown, column: string): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  return (code === 'SQLITE_CONSTRAINT_UNIQUE' || sqlStateOf(err) === PG_UNIQUE_VIOLATION) && err.message.includes(column)
}
const PG_UNIQUE_VIOLATION = '23505'

export interface UsersStore {
  readonly db: SqlDatabase
  /** A new user id: 24 hex digits (the seed's ids look like MongoDB ObjectIds). */
  newUserId(): string
  /** Throws EmailTakenError. */
  insertUser(user: { id: string; userName: string; email: string; passwordHash: string; createdAt: number; createdBy?: string }): UserRow
  /** Live (not deleted) users only. */
  userById(id: string): UserRow | undefined
  /** Live users created by this account with POST /user, oldest first. */
  usersCreatedBy(creatorId: string): UserRow[]
  userByEmail(email: string): UserRow | undefined
  /** Throws EmailTakenError. */
  updateUser(id: string, changes: { userName?: string; email?: string }): UserRow
  setCustomerId(id: string, customerId: string): void
  setLinkedUid(id: string, uid: string, at: number): void
  userByLinkedUid(uid: string): UserRow | undefined
  /** The wristband a user is linked to, also for a deleted user (their late payments still go there); null if none. */
  linkedUidOf(userId: string): string | null
  /** Soft delete: the row stays for the payments' history; email and password are cleared. */
  deleteUser(id: string, at: number): void

  paymentByCuid(userId: string, cuid: string): PaymentRow | undefined
  paymentByIntent(intentId: string): PaymentRow | undefined
  paymentsOfUser(userId: string): PaymentRow[]
  /** Payments with an intent that are not final yet, or succeeded and not booked; oldest update first. */
  openPayments(limit: number): PaymentRow[]
  /** Write-ahead row before the Stripe call; returns false if (user, cuid) exists already. */
  insertCreatingPayment(p: { userId: string; cuid: string; amount: number; currency: string; at: number }): boolean
  setPaymentIntent(userId: string, cuid: string, intent: { intentId: string; status: string; paymentMethod: string | null; clientSecret: string | null }, at: number): void
  setPaymentStatus(intentId: string, status: string, paymentMethod: string | null, at: number): void
  markPaymentBooked(intentId: string, bookingId: string, bookedTo: string, at: number): void
}

export function createUsersStore(db: SqlDatabase): UsersStore {
  // users_api_* come from the gateway database's migrations.
  migrateGatewayDatabase(db)
  const q = {
    insertUser: db.prepare(
      `INSERT INTO users_api_users (id, user_name, email, password_hash, created_at, created_by) VALUES (@id, @userName, @email, @passwordHash, @createdAt, @createdBy)`,
    ),
    usersCreatedBy: db.prepare<[string], UserDbRow>(`SELECT * FROM users_api_users WHERE created_by = ? AND deleted_at IS NULL ORDER BY created_at, id`),
    userById: db.prepare<[string], UserDbRow>(`SELECT * FROM users_api_users WHERE id = ? AND deleted_at IS NULL`),
    userByEmail: db.prepare<[string], UserDbRow>(`SELECT * FROM users_api_users WHERE email = ? AND deleted_at IS NULL`),
    userByLinkedUid: db.prepare<[string], UserDbRow>(`SELECT * FROM users_api_users WHERE linked_uid = ?`),
    updateUser: db.prepare(
      `UPDATE users_api_users SET user_name = COALESCE(@userName, user_name), email = COALESCE(@email, email) WHERE id = @id AND deleted_at IS NULL`,
    ),
    setCustomerId: db.prepare(`UPDATE users_api_users SET customer_id = ? WHERE id = ? AND customer_id IS NULL`),
    setLinkedUid: db.prepare(`UPDATE users_api_users SET linked_uid = ?, linked_at = ? WHERE id = ? AND linked_uid IS NULL`),
    deleteUser: db.prepare(`UPDATE users_api_users SET deleted_at = ?, email = NULL, password_hash = '' WHERE id = ? AND deleted_at IS NULL`),
    linkedUidOf: db.prepare<[string], { linked_uid: string | null }>(`SELECT linked_uid FROM users_api_users WHERE id = ?`),
    openPayments: db.prepare<[number], PaymentDbRow>(
      `SELECT * FROM users_api_payments WHERE intent_id IS NOT NULL AND booking_id IS NULL AND status != 'canceled' ORDER BY updated_at, seq LIMIT ?`,
    ),
    paymentByCuid: db.prepare<[string, string], PaymentDbRow>(`SELECT * FROM users_api_payments WHERE user_id = ? AND cuid = ?`),
    paymentByIntent: db.prepare<[string], PaymentDbRow>(`SELECT * FROM users_api_payments WHERE intent_id = ?`),
    paymentsOfUser: db.prepare<[string], PaymentDbRow>(
      `SELECT * FROM users_api_payments WHERE user_id = ? AND intent_id IS NOT NULL ORDER BY seq DESC`,
    ),
    insertCreating: db.prepare(
      `INSERT INTO users_api_payments (user_id, cuid, amount, currency, status, created_at, updated_at)
       VALUES (@userId, @cuid, @amount, @currency, '${CREATING_STATUS}', @at, @at) ON CONFLICT(user_id, cuid) DO NOTHING`,
    ),
    setIntent: db.prepare(
      `UPDATE users_api_payments SET intent_id = @intentId, status = @status, payment_method = @paymentMethod, client_secret = @clientSecret, updated_at = @at
       WHERE user_id = @userId AND cuid = @cuid`,
    ),
    setStatus: db.prepare(
      `UPDATE users_api_payments SET status = ?, payment_method = COALESCE(?, payment_method), updated_at = ? WHERE intent_id = ?`,
    ),
    markBooked: db.prepare(
      `UPDATE users_api_payments SET booking_id = ?, booked_to = ?, updated_at = ? WHERE intent_id = ? AND booking_id IS NULL`,
    ),
  }

  return {
    db,
    newUserId: () => randomBytes(12).toString('hex'),
    insertUser(user) {
      try {
        q.insertUser.run({ ...user, createdBy: user.createdBy ?? null })
      } catch (err) {
        if (isUniqueViolation(err, 'email')) throw new EmailTakenError()
        throw err
      }
      return toUser(q.userById.get(user.id)!)
    },
    userById: (id) => {
      const r = q.userById.get(id)
      return r === undefined ? undefined : toUser(r)
    },
    usersCreatedBy: (creatorId) => q.usersCreatedBy.all(creatorId).map(toUser),
    userByEmail: (email) => {
      const r = q.userByEmail.get(email)
      return r === undefined ? undefined : toUser(r)
    },
    updateUser(id, changes) {
      try {
        q.updateUser.run({ id, userName: changes.userName ?? null, email: changes.email ?? null })
      } catch (err) {
        if (isUniqueViolation(err, 'email')) throw new EmailTakenError()
        throw err
      }
      const r = q.userById.get(id)
      if (r === undefined) throw new Error(`user ${id} vanished during update`)
      return toUser(r)
    },
    setCustomerId(id, customerId) {
      q.setCustomerId.run(customerId, id)
    },
    setLinkedUid(id, uid, at) {
      if (q.setLinkedUid.run(uid, at, id).changes !== 1) throw new Error(`user ${id} is already linked or gone`)
    },
    userByLinkedUid: (uid) => {
      const r = q.userByLinkedUid.get(uid)
      return r === undefined ? undefined : toUser(r)
    },
    linkedUidOf: (userId) => q.linkedUidOf.get(userId)?.linked_uid ?? null,
    openPayments: (limit) => q.openPayments.all(limit).map(toPayment),
    deleteUser(id, at) {
      q.deleteUser.run(at, id)
    },
    paymentByCuid: (userId, cuid) => {
      const r = q.paymentByCuid.get(userId, cuid)
      return r === undefined ? undefined : toPayment(r)
    },
    paymentByIntent: (intentId) => {
      const r = q.paymentByIntent.get(intentId)
      return r === undefined ? undefined : toPayment(r)
    },
    paymentsOfUser: (userId) => q.paymentsOfUser.all(userId).map(toPayment),
    insertCreatingPayment: (p) => q.insertCreating.run(p).changes === 1,
    setPaymentIntent(userId, cuid, intent, at) {
      q.setIntent.run({ userId, cuid, ...intent, at })
    },
    setPaymentStatus(intentId, status, paymentMethod, at) {
      q.setStatus.run(status, paymentMethod, at, intentId)
    },
    markPaymentBooked(intentId, bookingId, bookedTo, at) {
      if (q.markBooked.run(bookingId, bookedTo, at, intentId).changes !== 1) throw new Error(`payment ${intentId} is already booked or unknown`)
    },
  }
}
