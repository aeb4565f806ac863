// MQTT topic names of protocol v1 (DESIGN.md, "MQTT topics").
export const TOPIC_ROOT = 'wristpay/v1'

export type KioskTopicKind = 'tx' | 'reply' | 'state' | 'config' | 'query'
const KIOSK_TOPIC_KINDS: readonly KioskTopicKind[] = ['tx', 'reply', 'state', 'config', 'query']

export const topics = {
  kioskTx: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/tx`,
  kioskReply: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/reply`,
  kioskState: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/state`,
  kioskConfig: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/config`,
  /** Kiosk -> gateway questions (balance checks); answered on the kiosk's reply topic. */
  kioskQuery: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/query`,
  /** Operator -> kiosk remote commands (KioskCommand, QoS 1, never retained): only admin operators and the gateway publish here. */
  kioskCmd: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/cmd`,
  /** Kiosk -> operators: the kiosk's answers to its commands (CommandAnswer, QoS 1), read by the gateway and admin operators. */
  kioskCmdAnswer: (kioskId: string) => `${TOPIC_ROOT}/kiosk/${kioskId}/cmd/answer`,
  gatewayState: `${TOPIC_ROOT}/gateway/state`,
  event: (kind: string) => `${TOPIC_ROOT}/events/${kind}`,
  /** Subscription filters. */
  allKioskTx: `${TOPIC_ROOT}/kiosk/+/tx`,
  allKioskState: `${TOPIC_ROOT}/kiosk/+/state`,
  allKioskQuery: `${TOPIC_ROOT}/kiosk/+/query`,
  allKioskCmdAnswers: `${TOPIC_ROOT}/kiosk/+/cmd/answer`,
  allEvents: `${TOPIC_ROOT}/events/#`,
} as const

/** Splits `wristpay/v1/kiosk/{id}/{kind}`; anything else (wildcards included) is null. */
export function parseKioskTopic(topic: string): { kioskId: string; kind: KioskTopicKind } | null {
  const parts = topic.split('/')
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[2] !== 'kiosk') return null
  const kioskId = parts[3]!
  const kind = parts[4] as KioskTopicKind
  if (!kioskId || kioskId.includes('+') || kioskId.includes('#')) return null
  if (!KIOSK_TOPIC_KINDS.includes(kind)) return null
  return { kioskId, kind }
}
