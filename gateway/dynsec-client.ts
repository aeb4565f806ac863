// The dynamic security admin's own MQTT connection to the external broker:
// commands go to $CONTROL/dynamic-security/v1, the answers come back on its
// response topic. One batch at a time, each command tagged with correlation
// data so that an answer is matched to its batch; a batch without an answer
// within the bound is an error (the plugin missing, or the admin without its
// role), never a silent success.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { DYNSEC_CONTROL_TOPIC, DYNSEC_RESPONSE_TOPIC, DynsecError, type DynsecCommand, type DynsecResponse, type DynsecTransport } from './dynsec.js'

export interface DynsecClientOptions {
  url: string
  username: string
  password: string
  clientId: string
  /** More mqtt.js options (a CA for mqtts://). */
  connectOptions?: IClientOptions
  /** Bound on the connection and on each batch's answer; default 10 s. */
  timeoutMs?: number
}

export interface DynsecClient extends DynsecTransport {
  close(): Promise<void>
}

export async function connectDynsecClient(options: DynsecClientOptions): Promise<DynsecClient> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const client: MqttClient = await mqtt.connectAsync(options.url, {
    ...options.connectOptions,
    username: options.username,
    password: options.password,
    clientId: options.clientId,
    clean: true,
    connectTimeout: timeoutMs,
    reconnectPeriod: 1_000,
    // The first attempt must work: a refused login (wrong admin password) is an error now, not a silent end.
  }, false)
  client.on('error', () => {}) // Reconnects by itself; a batch meanwhile fails by its bound.
  let waiting: { tag: string; resolve: (responses: DynsecResponse[]) => void } | undefined
  client.on('message', (topic, payload) => {
    if (topic !== DYNSEC_RESPONSE_TOPIC || waiting === undefined) return
    let parsed: unknown
    try {
      parsed = JSON.parse(payload.toString('utf8'))
    } catch {
      return
    }
    const responses = (parsed as { responses?: unknown }).responses
    if (!Array.isArray(responses)) return
    const first = responses[0] as DynsecResponse | undefined
    if (typeof first?.correlationData !== 'string' || !first.correlationData.startsWith(`${waiting.tag}:`)) return
    waiting.resolve(responses as DynsecResponse[])
  })
  // Without the admin role the subscription is refused: say so now, not at the first unanswered batch.
  const granted = await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 }).then(
    (g) => g[0]?.qos,
    (err: unknown) => ((err as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? err),
  )
  if (granted !== 0 && granted !== 1) {
    await client.endAsync(true)
    throw new DynsecError(`the broker refused ${options.username} the dynamic security responses (${granted instanceof Error ? granted.message : `granted ${String(granted)}`}): is it the plugin's admin?`)
  }
  let batches = 0
  let queue: Promise<unknown> = Promise.resolve()

  function runOne(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    const tag = `wristpay-${process.pid}-${++batches}`
    const tagged = commands.map((c, i) => ({ ...c, correlationData: `${tag}:${i}` }))
    return new Promise<DynsecResponse[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting = undefined
        reject(new DynsecError(`dynamic security did not answer within ${timeoutMs} ms (is the plugin loaded, and does ${options.username} have its admin role?)`))
      }, timeoutMs)
      waiting = {
        tag,
        resolve: (responses) => {
          clearTimeout(timer)
          waiting = undefined
          resolve(responses)
        },
      }
      client.publishAsync(DYNSEC_CONTROL_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 }).catch((err: unknown) => {
        clearTimeout(timer)
        waiting = undefined
        reject(err)
      })
    })
  }

  return {
    run(commands) {
      if (commands.length === 0) return Promise.resolve([])
      const result = queue.then(() => runOne(commands))
      queue = result.catch(() => undefined)
      return result
    },
    async close() {
      await client.endAsync(true)
    },
  }
}
