// What the chaos run and its kiosk processes (kiosk-child.ts) say to each other, one JSON object a line.

export interface KioskChildOptions {
  kioskId: string
  token: string
  mqttUrl: string
  dataDir: string
  clockOffsetMs: number
  replyTimeoutMs: number
}

export type KioskRequest =
  | { op: 'topup'; n: number; uid: string; amount: number }
  | { op: 'sale'; n: number; uid: string; unitPrice: number }
  | { op: 'status' }
  | { op: 'answers'; ids: string[] }

export type KioskReply =
  | { type: 'ready' }
  | { type: 'outcome'; n: number; status: 'accepted' | 'rejected' | 'pending' | 'offline'; id: string; seq: number; amount: number; reason?: string }
  | { type: 'refused'; n: number; error: string }
  | { type: 'status'; depth: number; connected: boolean; chain: string }
  | { type: 'answers'; answers: Record<string, string> }

/** The free-price product every chaos sale sells: its price is the operation's number, so each sale's amount is its own. */
export const CHAOS_PRODUCT = 'chaos-item'
