// Payload schemas of the MQTT topics other than the transaction envelope
// (see transaction.ts). Every receiver validates with these before acting.
import Type, { type Static } from 'typebox'
import { Blocklist, CashRegisterRef, OfflinePolicy, Product, StaffMember, TagVariant, TillProfile, Variant } from './catalog.js'
import { Cents, Hash, KioskId, TagUid, Uuid } from './transaction.js'
import { createValidator } from './validate.js'

/**
 * Named result codes of the ledger, TigerBeetle style: every refusal has one, the
 * kiosk shows it, tests assert on it.
 */
export const REJECT_REASONS = [
  'invalid_transaction', // schema or arithmetic wrong (amount != sum of lines, ...)
  'unknown_kiosk',
  'bad_signature',
  'seq_conflict', // a different transaction already holds this kiosk's seq
  'chain_mismatch', // prev is not the hash of the kiosk's previous envelope
  'unknown_tag',
  'tag_blocked',
  'unknown_product',
  'price_mismatch',
  'amount_mismatch',
  'insufficient_balance',
  'topup_not_allowed',
  'sale_not_allowed',
  'tag_not_authentic', // the tag's SUN is missing where required, does not verify, or names another UID: a clone
  'tag_replayed', // the SUN's read counter is not above the last one seen for the tag: a recorded tap played again
  'tag_type_not_accepted', // the event does not accept this tag type
  'duplicate_payment', // a topup_card whose card-terminal reference was booked before
  'staff_required', // the event has staff and the transaction names none, or an unknown one
  'staff_not_allowed', // the staff member's roles do not allow this transaction type
  'product_restricted', // the wristband's variant may not buy a product of the cart (under-18 and alcohol)
  'not_returnable', // a returned (negative) line of a product that is no deposit
  'cancel_not_allowed', // not this kiosk's last sale, outside the window, already cancelled, or not a sale
  'cashout_not_allowed', // the till profile does not allow cash-outs
  'ticket_not_allowed', // the till profile does not allow ticket sales, or the lines are no tickets
  'tag_already_registered', // a ticket or tag switch onto a wristband the ledger already knows
  'tag_switch_not_allowed', // the till profile does not allow tag switches
  'wrong_pin', // tag switch: the PIN names no wristband
  'pin_attempts_exceeded', // tag switch: too many wrong PINs from this kiosk (or event-wide): the PIN was not checked; retry later
  'no_open_shift', // cash handled at a register-kept till without an open shift
  'shift_already_open', // shift_open at a kiosk or register that has one
  'unknown_register',
  'offline_not_allowed', // marked offline where the event's offline policy allows none, and it would not pass online
  'offline_limit_exceeded', // marked offline beyond the offline caps as the gateway counts them, and it would not pass online
  'deposit_not_handed_out', // pays back more deposits than the event holds (or cancels a sale whose deposits came back)
  'return_qty_exceeded', // brings back more units of a deposit product than its maxReturnQty
  'timestamp_in_future', // `at` is further ahead of the gateway's clock than the allowed skew
  'timestamp_too_old', // `at` is further behind the gateway's clock than a transaction may wait in an outbox
  'in_payout_run', // the wristband is in an open payout run: its balance is being paid back to the guest's bank account, it cannot spend
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export const TxResult = Type.Object(
  {
    kind: Type.Literal('result'),
    id: Uuid,
    seq: Type.Integer({ minimum: 1 }),
    status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
    /** The guest's balance after the booking, cents. */
    balance: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.Enum(REJECT_REASONS)),
    /** sale: cents taken from the balance after vouchers paid for what they cover. */
    charged: Type.Optional(Type.Integer()),
    vouchersUsed: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Vouchers left on the wristband. */
    vouchers: Type.Optional(Type.Integer({ minimum: 0 })),
    /** ticket: the new wristband's portal PIN, shown to the guest once (derived, never stored). */
    pin: Type.Optional(Type.String({ maxLength: 64 })),
    /** shift_close: the cash the register should hold, and counted minus expected. */
    expected: Type.Optional(Type.Integer()),
    difference: Type.Optional(Type.Integer()),
    /** An offline sale put the balance below zero: booked all the same and flagged as a debt. */
    debt: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
)
export type TxResult = Static<typeof TxResult>

/**
 * The gateway saw seq N+k while it expected N: it processes nothing past the
 * gap and asks the kiosk to send again from `fromSeq`.
 */
export const ResendRequest = Type.Object(
  {
    kind: Type.Literal('resend'),
    fromSeq: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
)
export type ResendRequest = Static<typeof ResendRequest>

/** One entry of a wristband's recent history, as a kiosk shows it on a balance check. */
export const HistoryEntry = Type.Object(
  {
    at: Type.Integer({ minimum: 0 }),
    type: Type.String({ maxLength: 32 }),
    /** Signed cents: what the booking did to the balance. */
    amount: Type.Integer(),
    booth: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)
export type HistoryEntry = Static<typeof HistoryEntry>

/** A wristband as a balance check shows it: the gateway builds it, the kiosk shows it (from a BalanceAnswer). */
export interface WristbandView {
  uid: string
  /** Cents. */
  balance: number
  vouchers: number
  blocked: boolean
  variant: string | null
  /** The balance is below zero (offline sales): the guest must top up. */
  debt: boolean
  recent: HistoryEntry[]
}

/** `kiosk/{id}/query`: a kiosk asks the gateway about a wristband (balance check, before a cash-out). */
export const BalanceQuery = Type.Object(
  {
    kind: Type.Literal('balance'),
    requestId: Uuid,
    uid: TagUid,
  },
  { additionalProperties: false },
)
export type BalanceQuery = Static<typeof BalanceQuery>
export const validateBalanceQuery = createValidator(BalanceQuery)

/** The gateway's answer to a BalanceQuery, on the kiosk's reply topic. */
export const BalanceAnswer = Type.Object(
  {
    kind: Type.Literal('balance'),
    requestId: Uuid,
    uid: TagUid,
    status: Type.Union([Type.Literal('ok'), Type.Literal('unknown_tag')]),
    balance: Type.Optional(Type.Integer()),
    vouchers: Type.Optional(Type.Integer({ minimum: 0 })),
    blocked: Type.Optional(Type.Boolean()),
    variant: Type.Optional(Variant),
    /** A debt from offline sales is open on it. */
    debt: Type.Optional(Type.Boolean()),
    recent: Type.Optional(Type.Array(HistoryEntry, { maxItems: 20 })),
  },
  { additionalProperties: false },
)
export type BalanceAnswer = Static<typeof BalanceAnswer>

/**
 * `kiosk/{id}/query`: after every start, before it signs or resends anything,
 * a kiosk asks where the gateway's record of its chain ends, telling where its
 * own ends (a damaged outbox starts over or rolls back without saying so).
 */
export const ChainQuery = Type.Object(
  {
    kind: Type.Literal('chain'),
    requestId: Uuid,
    /** The kiosk's own head: the seq it would sign next and the hash that transaction would name as `prev`. */
    nextSeq: Type.Integer({ minimum: 1 }),
    prev: Hash,
  },
  { additionalProperties: false },
)
export type ChainQuery = Static<typeof ChainQuery>

/** The gateway's answer to a ChainQuery: the seq it expects next from this kiosk and the hash of the last envelope it booked. */
export const ChainAnswer = Type.Object(
  {
    kind: Type.Literal('chain'),
    requestId: Uuid,
    nextSeq: Type.Integer({ minimum: 1 }),
    lastHash: Hash,
    /**
     * The Ed25519 public key (raw, base64url) the gateway checks this kiosk's
     * signatures with, null when the kiosk is not enrolled. A kiosk whose own
     * key differs signs nothing (everything would be refused unrecorded as
     * bad_signature). Public, not a secret. Absent from older gateways.
     */
    enrolledKey: Type.Optional(Type.Union([Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }), Type.Null()])),
  },
  { additionalProperties: false },
)
export type ChainAnswer = Static<typeof ChainAnswer>

/** Everything a kiosk may publish on its query topic. */
export const KioskQuery = Type.Union([BalanceQuery, ChainQuery])
export type KioskQuery = Static<typeof KioskQuery>
export const validateKioskQuery = createValidator(KioskQuery)

export const ReplyMessage = Type.Union([TxResult, ResendRequest, BalanceAnswer, ChainAnswer])
export type ReplyMessage = Static<typeof ReplyMessage>
export const validateReply = createValidator(ReplyMessage)

/** How a reader or card terminal is doing, as its kiosk sees it. */
export const DeviceHealth = Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down'), Type.Literal('unknown')])
export type DeviceHealth = Static<typeof DeviceHealth>

/** A kiosk's reader or card terminal: which kind it is and whether it answers. */
export const DeviceStatus = Type.Object(
  {
    kind: Type.String({ maxLength: 64 }),
    health: DeviceHealth,
    detail: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
)
export type DeviceStatus = Static<typeof DeviceStatus>

/** Time from a tap to the answer shown, over the last minute (ms). */
export const TapToAnswerStats = Type.Object(
  {
    count: Type.Integer({ minimum: 0 }),
    p50: Type.Integer({ minimum: 0 }),
    p99: Type.Integer({ minimum: 0 }),
    max: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type TapToAnswerStats = Static<typeof TapToAnswerStats>

/** An operator's lock of a kiosk (remote command `lock`): who, why, when (ms since the epoch, the kiosk's clock). */
export const KioskLock = Type.Object(
  { by: Type.String({ minLength: 1, maxLength: 64 }), reason: Type.Optional(Type.String({ maxLength: 200 })), at: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
)
export type KioskLock = Static<typeof KioskLock>

/** Lifecycle statuses of a kiosk on its state topic: `lost` is its will (the connection died without a goodbye). */
export const KIOSK_LIFECYCLE_STATUSES = ['online', 'offline', 'lost'] as const

/**
 * `kiosk/{id}/state` (retained, QoS 1), Sparkplug style: a birth (`online`) on
 * every connection, republished while connected, a will (`lost`) registered
 * with the same `bdSeq`, `offline` on a clean stop. A `lost` whose bdSeq is
 * lower than the latest birth's is a stale death (the broker noticed an old
 * connection after the kiosk reconnected): every consumer ignores it.
 */
export const KioskState = Type.Object(
  {
    kiosk: KioskId,
    status: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('lost')]),
    at: Type.Integer({ minimum: 0 }),
    /** Birth/death sequence: one more on every connection the kiosk makes, persisted so it never goes back. Absent from older kiosks. */
    bdSeq: Type.Optional(Type.Integer({ minimum: 0 })),
    version: Type.Optional(Type.String({ maxLength: 64 })),
    /** The config version the kiosk runs (KioskConfig.version). */
    configVersion: Type.Optional(Type.Integer({ minimum: 0 })),
    outboxDepth: Type.Optional(Type.Integer({ minimum: 0 })),
    /** A string from older kiosks (the reader's kind only). */
    reader: Type.Optional(Type.Union([DeviceStatus, Type.String({ maxLength: 128 })])),
    terminal: Type.Optional(DeviceStatus),
    /** Sales made while the gateway was unreachable and not yet answered. */
    offline: Type.Optional(
      Type.Object({ sales: Type.Integer({ minimum: 0 }), cents: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    ),
    tapToAnswerMs: Type.Optional(TapToAnswerStats),
    /** An operator locked the kiosk with a remote command (README "Remote commands"): it refuses every operation until unlocked. Absent when unlocked. */
    lock: Type.Optional(KioskLock),
    /** The kiosk's outbox cannot be written (disk full, I/O error, locked): it refuses new transactions with storage_failed. Absent while it works. */
    storage: Type.Optional(
      Type.Object(
        {
          status: Type.Literal('failed'),
          /** SQLite's or the file system's code of the latest failure (SQLITE_FULL, SQLITE_IOERR_WRITE, ENOSPC, ...). */
          code: Type.String({ maxLength: 64 }),
          /** When writes began to fail (kiosk clock, ms since the epoch). */
          since: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    counters: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 0 }))),
    /** Whether the kiosk's chain matches what the gateway booked (daemon/chain-guard.ts): `recovery_required` waits for an operator, `not_enrolled` for its key to be enrolled. */
    chain: Type.Optional(
      Type.Object(
        {
          status: Type.Union([Type.Literal('unchecked'), Type.Literal('intact'), Type.Literal('recovery_required'), Type.Literal('not_enrolled')]),
          reason: Type.Optional(Type.String({ maxLength: 64 })),
          localNextSeq: Type.Optional(Type.Integer({ minimum: 1 })),
          gatewayNextSeq: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type KioskState = Static<typeof KioskState>
export const validateKioskState = createValidator(KioskState)

export const KioskConfig = Type.Object(
  {
    kiosk: KioskId,
    booth: Type.String({ minLength: 1, maxLength: 64 }),
    /** Bumped on every change; a kiosk ignores a config older than the one it has. */
    version: Type.Integer({ minimum: 0 }),
    products: Type.Array(Product, { maxItems: 500 }),
    topupAllowed: Type.Boolean(),
    saleAllowed: Type.Boolean(),
    /** What this till may do; without it: sale and cash/card top-up as the two flags say, nothing else. */
    profile: Type.Optional(TillProfile),
    /** Staff who may log in; when the list is there (even empty), every transaction needs a logged-in staff member. */
    staff: Type.Optional(Type.Array(StaffMember, { maxItems: 5_000 })),
    /** Cash registers a shift may be opened on at this kiosk. */
    registers: Type.Optional(Type.Array(CashRegisterRef, { maxItems: 100 })),
    /** Wristbands with a restricted variant (minors): the kiosk refuses their restricted products, offline too. */
    tagVariants: Type.Optional(Type.Array(TagVariant, { maxItems: 200_000 })),
    offline: Type.Optional(OfflinePolicy),
    /** Blocked wristbands, signed by the gateway's key (`gatewayKey`), refused offline too. */
    blocklist: Type.Optional(Blocklist),
    /** The gateway's Ed25519 public key, base64url; the kiosk pins the first it sees (or its configured one). */
    gatewayKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
    /** The gateway's X25519 public key (JWK `x`) that tag-switch PINs are sealed to. */
    pinSealKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
  },
  { additionalProperties: false },
)
export type KioskConfig = Static<typeof KioskConfig>

/** The config topic carries catalogs, staff and blocklists: larger than a transaction. */
export const MAX_CONFIG_PAYLOAD_BYTES = 4 * 1024 * 1024
export const validateKioskConfig = createValidator(KioskConfig)

/** Fleet totals the gateway publishes in its state (all integers). */
export const FleetTotals = Type.Object(
  {
    kiosksOnline: Type.Integer({ minimum: 0 }),
    kiosksTotal: Type.Integer({ minimum: 0 }),
    /** Answers since the gateway started. */
    accepted: Type.Integer({ minimum: 0 }),
    rejected: Type.Integer({ minimum: 0 }),
    salesCents: Type.Integer(),
    topupsCents: Type.Integer(),
    /** Sales kiosks report as made offline and not yet answered. */
    offlineSales: Type.Integer({ minimum: 0 }),
    openDebtsCents: Type.Integer({ minimum: 0 }),
    alertsLastHour: Type.Integer({ minimum: 0 }),
    salesPerMin: Type.Integer({ minimum: 0 }),
    tapToAnswerP99Ms: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type FleetTotals = Static<typeof FleetTotals>
/** The contract's name for FleetTotals. */
export type Totals = FleetTotals

export const FLEET_ROW_STATUSES = ['online', 'offline', 'lost', 'never_seen'] as const

/** One kiosk as operators see it: the gateway builds it (gateway/fleet/), monitor and console only render it. */
export const FleetRow = Type.Object(
  {
    kiosk: KioskId,
    booth: Type.String({ maxLength: 64 }),
    status: Type.Enum(FLEET_ROW_STATUSES),
    /** When the status last changed (ms since the epoch). */
    since: Type.Optional(Type.Integer({ minimum: 0 })),
    lastSeenAt: Type.Optional(Type.Integer({ minimum: 0 })),
    version: Type.Optional(Type.String({ maxLength: 64 })),
    configVersion: Type.Optional(Type.Integer({ minimum: 0 })),
    reader: Type.Optional(DeviceStatus),
    terminal: Type.Optional(DeviceStatus),
    outboxDepth: Type.Optional(Type.Integer({ minimum: 0 })),
    salesPerMin: Type.Integer({ minimum: 0 }),
    refusalsPerMin: Type.Integer({ minimum: 0 }),
    offlineSales: Type.Integer({ minimum: 0 }),
    /** The kiosk's chain check (KioskState.chain.status). */
    chain: Type.Optional(Type.String({ maxLength: 32 })),
    tapToAnswerMs: Type.Optional(Type.Object({ p50: Type.Integer({ minimum: 0 }), p99: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
    /** The kiosk is locked by an operator (KioskState.lock); absent when unlocked. */
    lock: Type.Optional(KioskLock),
    /** 0 = fine, higher = worse; the fleet is sorted by it, descending. */
    severity: Type.Integer({ minimum: 0 }),
    /** Short human reasons ("lost 2 min ago", "reader down", "outbox 37 and growing", "refusals 12/min"). */
    problems: Type.Array(Type.String({ maxLength: 128 }), { maxItems: 16 }),
  },
  { additionalProperties: false },
)
export type FleetRow = Static<typeof FleetRow>

/** The fleet of a large festival does not fit the 64 KiB of other payloads. */
export const MAX_GATEWAY_STATE_PAYLOAD_BYTES = 2 * 1024 * 1024

/**
 * `gateway/state` (retained, QoS 1): published at start, every few seconds and
 * soon after a kiosk's status changes; `offline` on a clean stop (and as the
 * gateway's own broker cannot deliver its will, a consumer that loses its
 * connection should treat the retained state as stale).
 */
export const GatewayState = Type.Object(
  {
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    at: Type.Integer({ minimum: 0 }),
    version: Type.Optional(Type.String({ maxLength: 64 })),
    /** One more on every start, persisted. */
    bdSeq: Type.Optional(Type.Integer({ minimum: 0 })),
    startedAt: Type.Optional(Type.Integer({ minimum: 0 })),
    counters: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Integer())),
    totals: Type.Optional(FleetTotals),
    /** Sorted worst first: severity descending, then kiosk id. */
    fleet: Type.Optional(Type.Array(FleetRow, { maxItems: 10_000 })),
  },
  { additionalProperties: false },
)
export type GatewayState = Static<typeof GatewayState>
export const validateGatewayState = createValidator(GatewayState)

/** `events/booked`: what operators see of a processed transaction (no signature, no secrets). */
export const BookedEvent = Type.Object(
  {
    id: Uuid,
    kiosk: KioskId,
    seq: Type.Integer({ minimum: 1 }),
    type: Type.String(),
    amount: Cents,
    status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
    reason: Type.Optional(Type.String()),
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type BookedEvent = Static<typeof BookedEvent>

/** `events/alert`: something an operator should look at (a gap, a forged signature, a chain break). */
export const AlertEvent = Type.Object(
  {
    kind: Type.String({ maxLength: 64 }),
    message: Type.String({ maxLength: 1024 }),
    kiosk: Type.Optional(KioskId),
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type AlertEvent = Static<typeof AlertEvent>

// ---------------------------------------------------------------------------
// Remote commands (README "Remote commands"): an admin operator, through the
// gateway, asks one kiosk to do something on `kiosk/{id}/cmd`; the kiosk answers
// on `kiosk/{id}/cmd/answer` with the command's id as correlation id.

export const KIOSK_COMMANDS = ['lock', 'unlock', 'report_state', 'reload_config'] as const
export type KioskCommandName = (typeof KIOSK_COMMANDS)[number]

/** The longest a command may stay valid (expiresAt - issuedAt); kiosks remember command ids at least this long. */
export const MAX_COMMAND_LIFETIME_MS = 10 * 60_000
/** Commands and answers are small; anything bigger is refused before parsing. */
export const MAX_COMMAND_PAYLOAD_BYTES = 16 * 1024

export const KioskCommand = Type.Object(
  {
    v: Type.Literal(1),
    /** Correlation id: the answer carries it; a kiosk runs a given id at most once. */
    id: Uuid,
    /** The kiosk it is meant for: a kiosk refuses a command naming another (a copy on the wrong topic). */
    kiosk: KioskId,
    command: Type.Enum(KIOSK_COMMANDS),
    /** The operator who sent it (shown on a locked kiosk's screen, logged). */
    by: Type.String({ minLength: 1, maxLength: 64 }),
    /** lock: why, shown on the kiosk's screen. */
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    issuedAt: Type.Integer({ minimum: 0 }),
    /** ms since the epoch, by the sender's clock; a kiosk whose clock is past it answers `expired` and does nothing. */
    expiresAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type KioskCommand = Static<typeof KioskCommand>
export const validateKioskCommand = createValidator(KioskCommand)

export const COMMAND_ANSWER_STATUSES = ['done', 'refused', 'expired', 'duplicate'] as const
export type CommandAnswerStatus = (typeof COMMAND_ANSWER_STATUSES)[number]

export const CommandAnswer = Type.Object(
  {
    v: Type.Literal(1),
    /** The command's id. */
    id: Uuid,
    kiosk: KioskId,
    command: Type.Optional(Type.Enum(KIOSK_COMMANDS)),
    /** done: it ran; refused: invalid or not possible (message says why); expired: arrived after expiresAt, not run; duplicate: ran before (see first). */
    status: Type.Enum(COMMAND_ANSWER_STATUSES),
    /** When the kiosk answered (its clock). */
    at: Type.Integer({ minimum: 0 }),
    message: Type.Optional(Type.String({ maxLength: 256 })),
    /** Whether the kiosk is locked after the command. */
    locked: Type.Optional(Type.Boolean()),
    /** duplicate: the answer the kiosk gave when the command first arrived. */
    first: Type.Optional(
      Type.Object(
        {
          status: Type.Union([Type.Literal('done'), Type.Literal('refused'), Type.Literal('expired')]),
          at: Type.Integer({ minimum: 0 }),
          message: Type.Optional(Type.String({ maxLength: 256 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** report_state: the state the kiosk just published. */
    state: Type.Optional(KioskState),
  },
  { additionalProperties: false },
)
export type CommandAnswer = Static<typeof CommandAnswer>
export const validateCommandAnswer = createValidator(CommandAnswer)
