// A guest on the portal, for load runs: logs in with the wristband's PIN the
// way the portal page does (GET /config, then POST /auth/login) and then
// refreshes what the page's account view shows, GET /customer and
// GET /orders_with_bon side by side (the page's loadAccount()). It talks plain
// HTTP over one keep-alive agent of its own, as a phone's browser would, and
// checks that every answer is about its own wristband.
import { Agent, request } from 'node:http'

export interface PortalGuestOptions {
  /** The gateway's HTTP address. */
  host: string
  port: number
  /** Where the portal API is mounted (the gateway's portal.prefix, default /api). */
  apiPrefix: string
  /** The wristband this guest wears, and the PIN printed with it. */
  uid: string
  pin: string
  /**
   * The address the guest's connections come from. On Linux every 127.x.y.z
   * is loopback, so each guest can have its own, as phones have: the portal
   * counts logins per address, and 200 guests from one address would be
   * throttled as one hammering client.
   */
  localAddress?: string
}

/** One HTTP request of a guest: its status and how long it took. */
export interface GuestRequest {
  path: string
  /** 0: no answer came (the connection failed; `error` says how). */
  status: number
  latencyMs: number
  /** The socket error's code (ECONNRESET, ...) when no answer came. */
  error?: string
  /** Sent again once because the server had just closed the idle keep-alive connection it went out on, as browsers do. */
  retried?: boolean
}

/** What one refresh saw. */
export interface GuestPoll {
  requests: GuestRequest[]
  /** Whether both answers were 200 and about this guest's wristband only. */
  ok: boolean
  /** Records in the answers that name another wristband than the guest's own (must stay 0). */
  foreignRecords: number
  /** The receipt ids of the orders listed, newest first; undefined when the orders did not answer 200. */
  orderIds: string[] | undefined
}

export interface PortalGuest {
  readonly uid: string
  /** GET /config, then POST /auth/login; throws when the login is not answered 200 with a token. */
  logIn(): Promise<GuestRequest[]>
  /** One refresh of the account view. */
  poll(): Promise<GuestPoll>
  /** Closes the guest's keep-alive connections. */
  close(): void
}

interface Answer {
  status: number
  body: unknown
  latencyMs: number
  error?: string
  retried?: boolean
}

export function createPortalGuest(options: PortalGuestOptions): PortalGuest {
  // Two sockets: the page asks for the customer and the orders at the same time.
  const agent = new Agent({ keepAlive: true, maxSockets: 2, ...(options.localAddress ? { localAddress: options.localAddress } : {}) })
  let token: string | undefined

  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
    const answer = await callOnce(method, path, body)
    // A server closes keep-alive connections that sat idle (5 s): a GET that raced such a close
    // on a reused connection never reached it, and browsers send it again on a fresh one.
    if (answer.staleConnection !== true || method !== 'GET') return answer
    return { ...(await callOnce(method, path, body)), retried: true }
  }

  function callOnce(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer & { staleConnection?: boolean }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(payload.length)
    }
    const startedMs = performance.now()
    return new Promise((resolve) => {
      const failed = (err: NodeJS.ErrnoException) =>
        resolve({ status: 0, body: undefined, latencyMs: performance.now() - startedMs, error: err.code ?? err.message, staleConnection: req.reusedSocket && err.code === 'ECONNRESET' })
      const req = request({ host: options.host, port: options.port, method, path: options.apiPrefix + path, headers, agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          let parsed: unknown
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            parsed = undefined
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, latencyMs: performance.now() - startedMs })
        })
        res.on('error', failed)
      })
      // A refused or reset connection is an answer that never came: status 0, counted, never thrown.
      req.on('error', failed)
      req.end(payload)
    })
  }

  const record = (path: string, answer: Answer): GuestRequest => ({
    path,
    status: answer.status,
    latencyMs: answer.latencyMs,
    ...(answer.error === undefined ? {} : { error: answer.error }),
    ...(answer.retried ? { retried: true } : {}),
  })

  return {
    uid: options.uid,
    async logIn() {
      const config = await call('GET', '/config')
      const login = await call('POST', '/auth/login', { pin: options.pin })
      const accessToken = (login.body as { access_token?: unknown } | undefined)?.access_token
      if (login.status !== 200 || typeof accessToken !== 'string') throw new Error(`guest ${options.uid}: login answered ${login.status}`)
      token = accessToken
      return [record('/config', config), record('/auth/login', login)]
    },
    async poll() {
      const [customer, orders] = await Promise.all([call('GET', '/customer'), call('GET', '/orders_with_bon')])
      let foreignRecords = 0
      const customerUid = (customer.body as { user_tag_uid_hex?: unknown } | undefined)?.user_tag_uid_hex
      if (customer.status === 200 && customerUid !== options.uid) foreignRecords += 1
      let orderIds: string[] | undefined
      if (orders.status === 200) {
        const list = Array.isArray(orders.body) ? (orders.body as Array<{ uuid?: unknown; customer_tag_uid_hex?: unknown }>) : []
        foreignRecords += list.filter((order) => order.customer_tag_uid_hex !== options.uid).length
        orderIds = list.map((order) => String(order.uuid))
      }
      return {
        requests: [record('/customer', customer), record('/orders_with_bon', orders)],
        ok: customer.status === 200 && orders.status === 200 && Array.isArray(orders.body) && foreignRecords === 0,
        foreignRecords,
        orderIds,
      }
    },
    close() {
      agent.destroy()
    },
  }
}
