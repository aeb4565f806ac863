// Gateway configuration: defaults that run the demo on one machine, overridden
// by an optional JSON file, then by environment variables, then by explicit
// overrides (the CLI flags). The merged value is validated once with a TypeBox
// schema so that every later module can trust it.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import Type, { type Static } from 'typebox'
import { createValidator } from '../device-protocol/index.js'
import { DEFAULT_HTTP_LIMITS } from './http.js'

export const OperatorAccount = Type.Object(
  {
    /** The MQTT username is `operator:{name}`, so that no operator name can collide with a kiosk id. */
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'MQTT username operator:{name}' }),
    token: Type.String({ minLength: 12, maxLength: 256, secret: true, description: 'MQTT password of the operator' }),
    /** Without a role an account only reads; `admin` may also command kiosks and act in the operator console. */
    roles: Type.Optional(Type.Array(Type.Literal('admin'), { maxItems: 1, uniqueItems: true, description: "'admin': may send kiosks commands and act in the operator console; default: read only" })),
  },
  { additionalProperties: false },
)
export type OperatorAccount = Static<typeof OperatorAccount>

// Spelled out: TypeBox infers `never` for a union built with .map().
const LogLevel = Type.Union(
  [
    Type.Literal('fatal'),
    Type.Literal('error'),
    Type.Literal('warn'),
    Type.Literal('info'),
    Type.Literal('debug'),
    Type.Literal('trace'),
    Type.Literal('silent'),
  ],
  { description: 'log level of the JSON log lines on stdout' },
)

const Url = (description: string) => Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048, description })
/** `secret: true` masks the value in --print-config and marks it in the configuration reference. */
const Secret = (description: string) => Type.String({ minLength: 8, maxLength: 512, secret: true, description })

export const PortalConfig = Type.Object(
  {
    /** Where the customer portal API is mounted (its page is at /portal/). */
    prefix: Type.String({ pattern: '^/[a-z0-9_/-]*[a-z0-9_-]$', description: 'where the customer portal API is mounted (its page is at /portal/)' }),
    /** How guests' browsers reach the gateway, for payment return URLs; default http://{http.host}:{http.port}. */
    publicBaseUrl: Type.Optional(Url('how browsers and payment providers reach the gateway (payment return and webhook URLs); default http://{http.host}:{http.port}')),
    /** Countries whose IBANs are accepted for payouts. */
    allowedCountryCodes: Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), { maxItems: 100, description: 'countries (ISO 3166 alpha-2) whose IBANs are accepted for payouts' }),
    contactEmail: Type.String({ maxLength: 256, description: 'the contact address the portal shows guests' }),
    dataPrivacyUrl: Type.Optional(Url('link to the privacy policy shown on the portal')),
    aboutPageUrl: Type.Optional(Url('link to the event page shown on the portal')),
    /** Shown on the portal: payments go to simulated providers, no real money moves. */
    testModeMessage: Type.Optional(Type.String({ maxLength: 512, description: 'a banner on the portal, e.g. that payments are simulated' })),
    /** The sales tax shown on receipts (gross prices include it). */
    salesTax: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 32, description: 'name of the tax on receipts, e.g. VAT' }),
          rateBasisPoints: Type.Integer({ minimum: 0, maximum: 10_000, description: 'the rate in basis points (1900 = 19 %)' }),
        },
        { additionalProperties: false, description: 'the sales tax shown on receipts (gross prices include it)' },
      ),
    ),
  },
  { additionalProperties: false, description: 'the guest portal' },
)

/** A slug of the bank import jobs API's paths: lower-case letters, digits and '-', as pretix's slugs. */
export const BANK_SLUG_PATTERN = '^[a-z0-9-]{1,50}$'
const Slug = (description: string) => Type.String({ minLength: 1, maxLength: 50, pattern: BANK_SLUG_PATTERN, description })

export const BankConfig = Type.Object(
  {
    organizerSlug: Type.Optional(
      Slug("the organizer in the bank import jobs API's paths (/api/v1/organizers/{organizer}/bankimportjobs/): 1 to 50 lower-case letters, digits and '-'; default: the event's name in lower case, words joined by '-'"),
    ),
    eventSlug: Type.Optional(Slug("the event slug a bank import job may name (its `event` field): 1 to 50 lower-case letters, digits and '-'; default: the event's name in lower case, words joined by '-'")),
  },
  { additionalProperties: false, description: "the bank import jobs API (pretix's), where bank tools send statements" },
)
export type BankConfig = Static<typeof BankConfig>

export const PaymentsConfig = Type.Object(
  {
    /** The provider the portal's online top-up uses. */
    defaultProvider: Type.Optional(
      Type.Union([Type.Literal('sumup'), Type.Literal('stripe'), Type.Literal('stancer')], {
        description: "the provider the portal's online top-up uses; default: the first configured of sumup, stripe, stancer",
      }),
    ),
    minTopupCents: Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'smallest online top-up, cents' }),
    maxTopupCents: Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'largest online top-up, cents' }),
    sumup: Type.Optional(
      Type.Object(
        {
          baseUrl: Url('the SumUp API (default https://api.sumup.com with the environment variables)'),
          apiKey: Secret('SumUp API key'),
          merchantCode: Type.String({ minLength: 1, maxLength: 64, description: 'SumUp merchant code' }),
          webhookSecret: Type.Optional(Secret('SumUp webhook secret')),
        },
        { additionalProperties: false, description: 'the hosted-checkout provider (SumUp); absent: not offered' },
      ),
    ),
    stripe: Type.Optional(
      Type.Object(
        {
          baseUrl: Type.Optional(Url('the Stripe API (default Stripe itself)')),
          secretKey: Secret('Stripe secret key'),
          publishableKey: Type.String({ minLength: 8, maxLength: 512, description: 'Stripe publishable key (public: the browser gets it)' }),
          webhookSecret: Secret('Stripe webhook signing secret'),
        },
        { additionalProperties: false, description: 'Stripe: online top-up, the users/payments API and the card-terminal API (served only when set)' },
      ),
    ),
    stancer: Type.Optional(
      Type.Object(
        {
          baseUrl: Type.Optional(Url('the Stancer API (default https://api.stancer.com)')),
          secretKey: Secret('Stancer secret API key (sent as the Basic user; webhooks are unsigned, so there is no webhook secret)'),
          reconcileIntervalMinutes: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 1440,
              description: "how often the gateway reconciles Stancer's payouts with the ledger (from where the last run left off), minutes; 0: only on demand (POST /admin/reconciliation/run, `wristpay-gateway reconcile provider`)",
            }),
          ),
        },
        { additionalProperties: false, description: 'Stancer (API v2): online top-up with its hosted payment page, and refunds to the card; absent: not offered' },
      ),
    ),
    /** Address of the venue, for Stripe Terminal locations (one per booth). */
    venue: Type.Object(
      {
        line1: Type.String({ minLength: 1, maxLength: 256, description: 'street and number' }),
        city: Type.String({ minLength: 1, maxLength: 128, description: 'city' }),
        postal_code: Type.String({ minLength: 1, maxLength: 32, description: 'postal code' }),
        country: Type.String({ pattern: '^[A-Z]{2}$', description: 'country, ISO 3166 alpha-2' }),
      },
      { additionalProperties: false, description: 'address of the venue, for Stripe Terminal locations (one per booth)' },
    ),
  },
  { additionalProperties: false, description: 'online payments' },
)
export type PaymentsConfig = Static<typeof PaymentsConfig>

export const GatewayConfig = Type.Object(
  {
    /** Connection and login limits default to DEFAULT_BROKER_LIMITS (broker.ts says what each one bounds). */
    mqtt: Type.Object(
      {
        host: Type.String({
          minLength: 1,
          maxLength: 255,
          description:
            "address the MQTT broker listens on: 127.0.0.1 serves this machine only; kiosks on the festival network need the gateway's address there (or 0.0.0.0). Without mqtt.tls it is plain MQTT: keep it on a private network",
        }),
        port: Type.Integer({ minimum: 0, maximum: 65535, description: 'MQTT port (0 picks a free one)' }),
        tls: Type.Optional(
          Type.Object(
            {
              certFile: Type.String({ minLength: 1, maxLength: 4096, description: "the gateway's certificate (PEM); its names must include the host name or address kiosks connect to" }),
              keyFile: Type.String({ minLength: 1, maxLength: 4096, description: "the certificate's private key (PEM; keep it 0600, readable by the gateway's user only)" }),
              caFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'intermediate CA certificates (PEM) sent along with the certificate, when certFile holds only the certificate itself' })),
            },
            {
              additionalProperties: false,
              description:
                'MQTT over TLS: with it every MQTT listener (TCP and WebSocket) speaks only TLS (mqtts://, wss://), with the same logins, limits and ACLs; kiosks use an mqtts:// mqttUrl and their caFile. Relative paths in a config file are relative to the file',
            },
          ),
        ),
        maxConnections: Type.Optional(Type.Integer({ minimum: 2, maximum: 1_000_000, description: 'open MQTT connections at most, of every kind' })),
        reservedKioskConnections: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'of maxConnections, kept for authenticated kiosks' })),
        maxConnectionsPerAddress: Type.Optional(Type.Integer({ minimum: 2, maximum: 1_000_000, description: 'connections before login plus operator connections per address (IPv6: per /64); kiosks do not count' })),
        connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000, description: 'time a client has after TCP connect to log in' })),
        loginFailuresBeforeBlock: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000, description: 'failed logins an address may have before it is blocked' })),
        loginBlockBaseMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'the first block; each further failure doubles it' })),
        loginBlockMaxMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'the longest block' })),
        loginFailureMemoryMs: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 7 * 86_400_000, description: 'an address is forgotten after this long without a failure' })),
        loginTrackedAddresses: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'addresses remembered for login throttling at once' })),
        websocket: Type.Optional(
          Type.Object(
            {
              host: Type.String({ minLength: 1, maxLength: 255, description: 'address the MQTT-over-WebSocket listener listens on (127.0.0.1: this machine only)' }),
              port: Type.Integer({ minimum: 0, maximum: 65535, description: 'MQTT-over-WebSocket port (0 picks a free one); served on the path /mqtt' }),
            },
            {
              additionalProperties: false,
              description:
                'a second listener of the same broker for MQTT over WebSocket (the operator console in the browser), with the same logins, limits and ACLs as TCP; off when absent',
            },
          ),
        ),
        url: Type.Optional(
          Type.String({
            pattern: '^mqtts?://[^\\s]+$',
            maxLength: 2048,
            description:
              'an external MQTT broker (Mosquitto 2 with its dynamic security plugin) instead of the embedded one, e.g. mqtt://127.0.0.1:1883 (also --mqtt-url, WRISTPAY_GATEWAY_MQTT_URL): the gateway connects to it as a client and provisions the kiosks\' logins and ACLs there; host, port, tls, websocket and the login limits above are then the broker\'s own settings. Off (the embedded broker) when absent',
          }),
        ),
        external: Type.Optional(
          Type.Object(
            {
              username: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "the gateway's own account at the external broker (made and kept by the gateway through the plugin); default wristpay-gateway" })),
              clientId: Type.Optional(
                Type.String({
                  minLength: 1,
                  maxLength: 128,
                  description:
                    "this gateway's own client id (its persistent session: what it had not acknowledged is handed to it again under this id after a restart); unique per gateway and the same at every start. Default wristpay-gateway-{host}-{hash of the absolute dataDir}; set it on machines cloned with the same name and folder",
                }),
              ),
              shareGroup: Type.Optional(
                Type.String({
                  pattern: '^[A-Za-z0-9_.-]{1,64}$',
                  description:
                    "the shared subscription ($share/{group}/...) through which the gateways of one cluster split the kiosks' transactions and queries (each goes to one of them); kiosk states and command answers reach every gateway. The same in every gateway of a cluster; default wristpay-gateways",
                }),
              ),
              sessionExpirySeconds: Type.Optional(
                Type.Integer({
                  minimum: 1,
                  maximum: 3600,
                  description:
                    "how long the broker keeps this gateway's session after its connection is lost: a gateway back within it gets what the broker held for it; one away longer leaves the share group, and the other gateways take all the kiosks' transactions (kiosks send again what the dropped session held). Default 20",
                }),
              ),
              credentialFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "file (0600) holding the password of the gateway's account; or WRISTPAY_GATEWAY_MQTT_PASSWORD" })),
              caFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'CA certificate (PEM) that signed the broker\'s certificate, for an mqtts:// url' })),
              dynsecAdminUsername: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'the dynamic security admin made by mosquitto_ctrl dynsec init; default admin' })),
              dynsecAdminCredentialFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "file (0600) holding the dynamic security admin's password; or WRISTPAY_GATEWAY_MQTT_DYNSEC_PASSWORD" })),
            },
            { additionalProperties: false, description: 'how the gateway logs in to the external broker of mqtt.url (secrets only in 0600 files or the environment). Relative paths in a config file are relative to the file' },
          ),
        ),
      },
      { additionalProperties: false, description: 'the MQTT broker the kiosks connect to' },
    ),
    /** Timeouts and the credential throttle default to DEFAULT_HTTP_LIMITS (http.ts says what each one bounds). */
    http: Type.Object(
      {
        host: Type.String({ minLength: 1, maxLength: 255, description: 'address the HTTP server (portal, admin API) listens on; behind a TLS reverse proxy keep 127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, description: 'HTTP port (0 picks a free one)' }),
        headersTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000, description: 'time a client has to send all request headers' })),
        requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000, description: 'time a client has to send the whole request' })),
        idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000, description: 'a connection without traffic for this long is closed (keep above the slowest handler)' })),
        keepAliveTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000, description: 'an idle keep-alive connection is closed this long after its last response' })),
        authFailuresMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'wrong credentials per source address and window on /admin and the card-terminal API, then 429' })),
        authFailuresWindowMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000, description: 'the window of authFailuresMax' })),
        trustedProxies: Type.Optional(
          Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f.:/]+$' }), {
            maxItems: 32,
            description:
              'addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client; every per-address limit then counts the client, not the proxy (none by default: the header is ignored)',
          }),
        ),
      },
      { additionalProperties: false, description: 'the HTTP server' },
    ),
    /**
     * Where the ledger and every other table live: the SQLite file in dataDir
     * when absent (one gateway), or a PostgreSQL database that several
     * gateways share (gateway/storage.ts says what it accepts).
     */
    store: Type.Optional(
      Type.String({
        pattern: '^postgres(ql)?://[^\\s]+$',
        maxLength: 2048,
        description:
          'a PostgreSQL 15 database for the ledger and every other table instead of the SQLite file in dataDir, e.g. postgres://wristpay@db.example:5432/wristpay (also --store, WRISTPAY_GATEWAY_STORE); several gateways may share it. The password is never in the URL: libpq reads it from a passfile of mode 0600 (~/.pgpass, PGPASSFILE or passfile= in the URL). The SQLite file (gateway.sqlite in dataDir) when absent',
      }),
    ),
    /** Holds the SQLite ledger (gateway.sqlite). */
    dataDir: Type.String({ minLength: 1, description: 'folder of the ledger database (gateway.sqlite); made 0700. Relative paths in a config file are relative to the file' }),
    /**
     * The event set-up (booths, kiosks, products, tags) imported at start and on
     * POST /admin/event/reload. Required: the gateway refuses to start without
     * one (the demo's is loaded only with --demo).
     */
    eventFile: Type.Optional(
      Type.String({ minLength: 1, description: 'the event set-up imported at start and on POST /admin/event/reload. Required (the gateway refuses to start without it; --demo loads the demo festival instead)' }),
    ),
    /** Bearer token of the admin HTTP API; without one the admin API answers 503. */
    adminToken: Type.Optional(Type.String({ minLength: 16, maxLength: 256, secret: true, description: 'bearer token of the admin HTTP API (/admin); without one it answers 503' })),
    operators: Type.Array(OperatorAccount, { maxItems: 100, description: 'MQTT operator accounts: read kiosk states, gateway state and events; only those with the admin role publish, and only kiosk commands' }),
    /** Largest MQTT packet accepted from a client, bytes. */
    maxPacketBytes: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, description: 'largest MQTT packet accepted from a client, bytes; the connection is closed beyond it' }),
    /** Largest number of envelopes ingest commits in one SQLite transaction; ingest's default when absent. */
    maxBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'most transactions committed in one SQLite transaction (default 512)' })),
    logLevel: LogLevel,
    portal: PortalConfig,
    payments: PaymentsConfig,
    /** The slugs of the bank import jobs API; derived from the event's name when absent (gateway/apis.ts bankImportSlugs). */
    bank: Type.Optional(BankConfig),
    /** Kiosks enrolled with one-time registration codes (gateway/kiosk-enrollment.ts, README "Enrolling a kiosk with a registration code"). */
    enrollment: Type.Optional(
      Type.Object(
        {
          codeTtlMs: Type.Optional(Type.Integer({ minimum: 60_000, maximum: 30 * 86_400_000, description: 'how long a registration code works after it is issued (default 24 hours)' })),
          gatewayUrl: Type.Optional(Url('the gateway as kiosks reach its HTTP, e.g. http://10.0.0.1:8080, for the enroll command and its QR code; default the address the request for the code came to')),
          mqttUrl: Type.Optional(
            Type.String({
              pattern: '^(mqtts?|wss?)://[^\\s]+$',
              maxLength: 2048,
              description: 'the broker as kiosks reach it, handed out at enrollment, e.g. mqtt://10.0.0.1:1883; default mqtt:// with mqtt.host (for 0.0.0.0 the host the kiosk enrolled through) and the MQTT port',
            }),
          ),
        },
        { additionalProperties: false, description: 'enrolling kiosks with one-time registration codes' },
      ),
    ),
    /** Wrong-PIN limits shared by the portal login, the wristband link and the tag switch (defaults: DEFAULT_PIN_ATTEMPT_LIMITS, README "PIN guessing"). */
    pinAttempts: Type.Optional(
      Type.Object(
        {
          windowMs: Type.Optional(Type.Integer({ minimum: 60_000, maximum: 7 * 86_400_000, description: 'the window every wrong-PIN count runs over (default 1 hour)' })),
          perSourceWrongMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'wrong PINs one source (IPv4 address, IPv6 /64, kiosk) may try per window' })),
          eventWrongBudget: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'wrong PINs event-wide per window before sources that have failed themselves wait' })),
          perSourceWrongMaxOnceBudgetSpent: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'once the budget is spent, a source is still checked while it has fewer wrong PINs than this' })),
          eventWrongHardMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'wrong PINs event-wide per window after which no PIN is checked (the event-wide bound)' })),
          maxTrackedSources: Type.Optional(Type.Integer({ minimum: 100, maximum: 10_000_000, description: 'sources remembered at once' })),
        },
        { additionalProperties: false, description: 'wrong-PIN limits of the portal login, the wristband link and the tag switch' },
      ),
    ),
    /** GET /metrics (README "Metrics"): with a token any address may scrape with it, without one only this machine. */
    metrics: Type.Optional(
      Type.Object(
        {
          token: Type.Optional(
            Type.String({ minLength: 16, maxLength: 256, secret: true, description: 'bearer token a Prometheus scrape of /metrics presents; without one /metrics answers only requests from this machine (loopback)' }),
          ),
        },
        { additionalProperties: false, description: 'the Prometheus metrics at GET /metrics' },
      ),
    ),
    /** gateway/state for operators (README "MQTT topics"): how often the gateway publishes its counters and the fleet. */
    monitoring: Type.Optional(
      Type.Object(
        {
          stateIntervalMs: Type.Optional(
            Type.Integer({ minimum: 500, maximum: 3_600_000, description: 'period of the retained gateway/state message with counters, totals and the fleet (default 5000); it also goes out soon after a kiosk comes or goes' }),
          ),
        },
        { additionalProperties: false, description: 'the live view of the fleet on MQTT (gateway/state)' },
      ),
    ),
    /** Online backups of the ledger database (gateway/backup/, README "Backups and restore"); off without it. */
    backup: Type.Optional(
      Type.Object(
        {
          dir: Type.String({ minLength: 1, description: 'folder the backups are written to (made 0700 when missing; each backup 0600, named gateway-{UTC time}.sqlite); relative to the config file' }),
          intervalMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 60, description: 'a backup every this many minutes while the gateway runs; without it backups are taken only on demand (POST /admin/backups, wristpay-gateway backup)' })),
          keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'how many of the newest backups are kept; older ones are deleted after each backup (default 24)' })),
        },
        { additionalProperties: false, description: 'online backups of the ledger database (off by default)' },
      ),
    ),
    /** File holding the secret that keys the PIN lookup hashes; without it the secret is kept in the database. */
    pinSecretFile: Type.Optional(
      Type.String({ minLength: 1, description: 'file (mode 0600) holding the secret that keys the PIN lookup hashes; without it the secret is generated and kept in the database' }),
    ),
  },
  { additionalProperties: false },
)
export type GatewayConfig = Static<typeof GatewayConfig>

const validateConfig = createValidator(GatewayConfig)

/** payments.stancer.reconcileIntervalMinutes when the config does not say: hourly, so a payout is booked the hour it is paid. */
export const DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES = 60

export const DEFAULT_CONFIG: GatewayConfig = {
  mqtt: { host: '127.0.0.1', port: 1883 },
  http: { host: '127.0.0.1', port: 8080 },
  dataDir: 'data/gateway',
  // No event file: the gateway refuses to start without one (the demo's only with --demo).
  operators: [],
  // 64 KiB of payload plus room for the fixed header and the topic.
  maxPacketBytes: 64 * 1024 + 512,
  logLevel: 'info',
  portal: {
    prefix: '/api',
    allowedCountryCodes: ['AT', 'BE', 'CH', 'DE', 'DK', 'ES', 'FR', 'IT', 'LU', 'NL'],
    // No example address: a portal without a contact shows no contact link.
    contactEmail: '',
  },
  payments: {
    minTopupCents: 100,
    maxTopupCents: 50_000,
    venue: { line1: 'Festival grounds', city: 'Munich', postal_code: '80331', country: 'DE' },
  },
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** A partial config as it comes from a file, the environment or the CLI: nested objects may be partial too. */
export type ConfigLayer = Partial<Omit<GatewayConfig, 'mqtt' | 'http' | 'portal' | 'payments' | 'bank'>> & {
  mqtt?: Partial<GatewayConfig['mqtt']>
  http?: Partial<GatewayConfig['http']>
  portal?: Partial<GatewayConfig['portal']>
  payments?: Partial<GatewayConfig['payments']>
  bank?: Partial<BankConfig>
}

export const ENV_PREFIX = 'WRISTPAY_GATEWAY_'

/**
 * The environment variable of each setting that has one (configFromEnv reads
 * them; config.test.ts checks each lands on its key). Secrets belong here or in
 * a 0600 file rather than in a config file others may read.
 */
export const ENV_VARS: Readonly<Record<string, string>> = {
  'mqtt.host': `${ENV_PREFIX}MQTT_HOST`,
  'mqtt.port': `${ENV_PREFIX}MQTT_PORT`,
  'mqtt.url': `${ENV_PREFIX}MQTT_URL`,
  store: `${ENV_PREFIX}STORE`,
  'http.host': `${ENV_PREFIX}HTTP_HOST`,
  'http.port': `${ENV_PREFIX}HTTP_PORT`,
  dataDir: `${ENV_PREFIX}DATA_DIR`,
  eventFile: `${ENV_PREFIX}EVENT_FILE`,
  adminToken: `${ENV_PREFIX}ADMIN_TOKEN`,
  operators: `${ENV_PREFIX}OPERATORS (name:token or name:token:admin,...)`,
  maxPacketBytes: `${ENV_PREFIX}MAX_PACKET_BYTES`,
  maxBatch: `${ENV_PREFIX}MAX_BATCH`,
  logLevel: `${ENV_PREFIX}LOG_LEVEL`,
  'portal.publicBaseUrl': `${ENV_PREFIX}PUBLIC_BASE_URL`,
  pinSecretFile: `${ENV_PREFIX}PIN_SECRET_FILE`,
  'metrics.token': `${ENV_PREFIX}METRICS_TOKEN`,
  'payments.sumup.apiKey': `${ENV_PREFIX}SUMUP_API_KEY`,
  'payments.sumup.baseUrl': `${ENV_PREFIX}SUMUP_BASE_URL`,
  'payments.sumup.merchantCode': `${ENV_PREFIX}SUMUP_MERCHANT_CODE`,
  'payments.sumup.webhookSecret': `${ENV_PREFIX}SUMUP_WEBHOOK_SECRET`,
  'payments.stripe.secretKey': `${ENV_PREFIX}STRIPE_SECRET_KEY`,
  'payments.stripe.publishableKey': `${ENV_PREFIX}STRIPE_PUBLISHABLE_KEY`,
  'payments.stripe.webhookSecret': `${ENV_PREFIX}STRIPE_WEBHOOK_SECRET`,
  'payments.stripe.baseUrl': `${ENV_PREFIX}STRIPE_BASE_URL`,
  'payments.stancer.secretKey': `${ENV_PREFIX}STANCER_SECRET_KEY`,
  'payments.stancer.baseUrl': `${ENV_PREFIX}STANCER_BASE_URL`,
  'bank.organizerSlug': `${ENV_PREFIX}BANK_ORGANIZER_SLUG`,
  'bank.eventSlug': `${ENV_PREFIX}BANK_EVENT_SLUG`,
}

function envPort(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[ENV_PREFIX + name]
  if (raw === undefined || raw === '') return undefined
  // Number('') and Number(' 12 ') would pass silently; require plain digits.
  if (!/^\d{1,5}$/.test(raw)) throw new ConfigError(`${ENV_PREFIX}${name} must be a port number, got ${JSON.stringify(raw)}`)
  return Number(raw)
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[ENV_PREFIX + name]
  if (raw === undefined || raw === '') return undefined
  if (!/^\d{1,9}$/.test(raw)) throw new ConfigError(`${ENV_PREFIX}${name} must be a positive integer`)
  return Number(raw)
}

function envString(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[ENV_PREFIX + name]
  return raw === undefined || raw === '' ? undefined : raw
}

/** `name:token,name2:token2`; the token is never echoed in an error. */
export function parseOperatorsEnv(raw: string): OperatorAccount[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry, i) => {
      const colon = entry.indexOf(':')
      if (colon <= 0 || colon === entry.length - 1) {
        throw new ConfigError(`${ENV_PREFIX}OPERATORS entry ${i + 1} must look like name:token or name:token:admin`)
      }
      // ':admin' at the end is the role, never part of the token (a token ending so belongs in the config file).
      const rest = entry.slice(colon + 1)
      if (rest.endsWith(':admin')) return { name: entry.slice(0, colon), token: rest.slice(0, -':admin'.length), roles: ['admin' as const] }
      return { name: entry.slice(0, colon), token: rest }
    })
}

/** Reads the WRISTPAY_GATEWAY_* variables into a config layer (paths stay as given: relative to the cwd). */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigLayer {
  const layer: ConfigLayer = {}
  const mqttHost = envString(env, 'MQTT_HOST')
  const mqttPort = envPort(env, 'MQTT_PORT')
  if (mqttHost !== undefined || mqttPort !== undefined) layer.mqtt = { host: mqttHost, port: mqttPort }
  const mqttUrl = envString(env, 'MQTT_URL')
  if (mqttUrl !== undefined) layer.mqtt = { ...layer.mqtt, url: mqttUrl }
  const httpHost = envString(env, 'HTTP_HOST')
  const httpPort = envPort(env, 'HTTP_PORT')
  if (httpHost !== undefined || httpPort !== undefined) layer.http = { host: httpHost, port: httpPort }
  const store = envString(env, 'STORE')
  if (store !== undefined) layer.store = store
  const dataDir = envString(env, 'DATA_DIR')
  if (dataDir !== undefined) layer.dataDir = dataDir
  const eventFile = envString(env, 'EVENT_FILE')
  if (eventFile !== undefined) layer.eventFile = eventFile
  const adminToken = envString(env, 'ADMIN_TOKEN')
  if (adminToken !== undefined) layer.adminToken = adminToken
  const operators = envString(env, 'OPERATORS')
  if (operators !== undefined) layer.operators = parseOperatorsEnv(operators)
  const maxPacketBytes = envInt(env, 'MAX_PACKET_BYTES')
  if (maxPacketBytes !== undefined) layer.maxPacketBytes = maxPacketBytes
  const maxBatch = envInt(env, 'MAX_BATCH')
  if (maxBatch !== undefined) layer.maxBatch = maxBatch
  const logLevel = envString(env, 'LOG_LEVEL')
  if (logLevel !== undefined) layer.logLevel = logLevel as GatewayConfig['logLevel']
  const publicBaseUrl = envString(env, 'PUBLIC_BASE_URL')
  if (publicBaseUrl !== undefined) layer.portal = { publicBaseUrl }
  const pinSecretFile = envString(env, 'PIN_SECRET_FILE')
  if (pinSecretFile !== undefined) layer.pinSecretFile = pinSecretFile
  const metricsToken = envString(env, 'METRICS_TOKEN')
  if (metricsToken !== undefined) layer.metrics = { token: metricsToken }
  // Payment provider credentials are secrets: the environment is the usual place for them.
  const payments: Partial<PaymentsConfig> = {}
  const sumupKey = envString(env, 'SUMUP_API_KEY')
  if (sumupKey !== undefined) {
    payments.sumup = {
      apiKey: sumupKey,
      baseUrl: envString(env, 'SUMUP_BASE_URL') ?? 'https://api.sumup.com',
      merchantCode: envString(env, 'SUMUP_MERCHANT_CODE') ?? '',
      webhookSecret: envString(env, 'SUMUP_WEBHOOK_SECRET'),
    }
  }
  const stripeKey = envString(env, 'STRIPE_SECRET_KEY')
  if (stripeKey !== undefined) {
    payments.stripe = {
      secretKey: stripeKey,
      publishableKey: envString(env, 'STRIPE_PUBLISHABLE_KEY') ?? '',
      webhookSecret: envString(env, 'STRIPE_WEBHOOK_SECRET') ?? '',
      baseUrl: envString(env, 'STRIPE_BASE_URL'),
    }
  }
  const stancerKey = envString(env, 'STANCER_SECRET_KEY')
  if (stancerKey !== undefined) payments.stancer = { secretKey: stancerKey, baseUrl: envString(env, 'STANCER_BASE_URL') }
  if (Object.keys(payments).length > 0) layer.payments = payments
  const organizerSlug = envString(env, 'BANK_ORGANIZER_SLUG')
  const eventSlug = envString(env, 'BANK_EVENT_SLUG')
  if (organizerSlug !== undefined || eventSlug !== undefined) layer.bank = { organizerSlug, eventSlug }
  return layer
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads a JSON config file; relative paths inside it are taken relative to the file's folder. */
export function readConfigFile(path: string): ConfigLayer {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (!isPlainObject(value)) throw new ConfigError(`config file ${path} must hold a JSON object`)
  const base = dirname(resolve(path))
  const layer = { ...value } as Record<string, unknown>
  for (const key of ['dataDir', 'eventFile'] as const) {
    const p = layer[key]
    if (typeof p === 'string' && p.length > 0 && !isAbsolute(p)) layer[key] = resolve(base, p)
  }
  if (isPlainObject(layer.backup) && typeof layer.backup.dir === 'string' && layer.backup.dir.length > 0 && !isAbsolute(layer.backup.dir)) {
    layer.backup = { ...layer.backup, dir: resolve(base, layer.backup.dir) }
  }
  // The TLS files of mqtt.tls, like the paths above.
  if (isPlainObject(layer.mqtt) && isPlainObject(layer.mqtt.tls)) {
    const tls = { ...layer.mqtt.tls }
    for (const key of ['certFile', 'keyFile', 'caFile'] as const) {
      const p = tls[key]
      if (typeof p === 'string' && p.length > 0 && !isAbsolute(p)) tls[key] = resolve(base, p)
    }
    layer.mqtt = { ...layer.mqtt, tls }
  }
  // The files of mqtt.external (the external broker's password, CA and dynsec admin password), likewise.
  if (isPlainObject(layer.mqtt) && isPlainObject(layer.mqtt.external)) {
    const external = { ...layer.mqtt.external }
    for (const key of ['credentialFile', 'caFile', 'dynsecAdminCredentialFile'] as const) {
      const p = external[key]
      if (typeof p === 'string' && p.length > 0 && !isAbsolute(p)) external[key] = resolve(base, p)
    }
    layer.mqtt = { ...layer.mqtt, external }
  }
  return layer as ConfigLayer
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** The bank slugs end up in URLs that bank tools are configured with: say plainly what a slug may be (the schema's own message names only the pattern). */
function checkBankSlugs(bank: unknown): void {
  if (!isPlainObject(bank)) return
  for (const key of ['organizerSlug', 'eventSlug'] as const) {
    const slug = bank[key]
    if (slug === undefined || (typeof slug === 'string' && new RegExp(BANK_SLUG_PATTERN).test(slug))) continue
    throw new ConfigError(
      `invalid gateway config: bank.${key} must be 1 to 50 lower-case letters, digits and '-' (it is part of the bank import jobs API's paths), got ${JSON.stringify(slug)?.slice(0, 80)} (from the config file or ${ENV_VARS[`bank.${key}`]})`,
    )
  }
}

/** Merges layers over the defaults (later wins; nested mqtt/http merge per key) and validates the result. */
export function resolveConfig(...layers: readonly ConfigLayer[]): GatewayConfig {
  let merged: Record<string, unknown> = structuredClone(DEFAULT_CONFIG)
  for (const layer of layers) {
    if (!isPlainObject(layer)) throw new ConfigError('a config layer must be an object')
    const { mqtt, http, portal, payments, bank, ...rest } = layer
    merged = { ...merged, ...dropUndefined(rest) }
    for (const [key, part] of [['mqtt', mqtt], ['http', http], ['portal', portal], ['payments', payments], ['bank', bank]] as const) {
      if (part === undefined) continue
      const before = merged[key] as Record<string, unknown>
      merged[key] = isPlainObject(part) ? { ...before, ...dropUndefined(part) } : part
      // Stancer's settings merge per key too: a key from the environment must not drop the file's reconcileIntervalMinutes (or baseUrl).
      if (key === 'payments' && isPlainObject(part) && isPlainObject(part.stancer) && isPlainObject(before?.stancer)) {
        ;(merged.payments as Record<string, unknown>).stancer = { ...before.stancer, ...dropUndefined(part.stancer) }
      }
    }
  }
  checkBankSlugs(merged.bank)
  const checked = validateConfig(merged)
  if (!checked.ok) throw new ConfigError(`invalid gateway config: ${checked.error}`)
  const http = { ...DEFAULT_HTTP_LIMITS, ...dropUndefined(checked.value.http) }
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(`invalid gateway config: http.headersTimeoutMs (${http.headersTimeoutMs}) must not exceed http.requestTimeoutMs (${http.requestTimeoutMs})`)
  }
  const names = new Set<string>()
  for (const op of checked.value.operators) {
    if (names.has(op.name)) throw new ConfigError(`invalid gateway config: operator ${op.name} is listed twice`)
    names.add(op.name)
  }
  return checked.value
}

export interface LoadConfigOptions {
  /** A JSON config file; WRISTPAY_GATEWAY_CONFIG when not given. */
  file?: string
  env?: NodeJS.ProcessEnv
  /** Highest precedence, e.g. the CLI flags. */
  overrides?: ConfigLayer
}

/** Defaults < config file < environment < overrides. Throws ConfigError with a readable message. */
export function loadConfig(options: LoadConfigOptions = {}): GatewayConfig {
  const env = options.env ?? process.env
  const file = options.file ?? envString(env, 'CONFIG')
  const layers: ConfigLayer[] = []
  if (file !== undefined) layers.push(readConfigFile(file))
  layers.push(configFromEnv(env))
  if (options.overrides) layers.push(options.overrides)
  return resolveConfig(...layers)
}
