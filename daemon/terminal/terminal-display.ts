// What the card terminal shows the guest right now ("Karte vorhalten", "PIN
// eingeben"), for the kiosk's screen while a card payment runs. The adapter
// emits it as 'intermediate'; this keeps the latest, and forgets it when the
// terminal goes busy or idle (a payment starts or ends), so the screen never
// shows the text of an earlier payment.
//
// The text comes from the terminal and is untrusted: it is cleaned again here
// (control characters removed, bounded), whatever the adapter did, and the
// page renders it as text.
// From tlv.ts itself, not zvt/index.js: the ZVT protocol (and its test vectors) stays unloaded
// on a kiosk without a card terminal.
import { cleanTerminalText } from '../../device-protocol/zvt/tlv.js'
import type { PaymentTerminal, TerminalStatus } from './terminal.js'

/** The longest text the kiosk shows. */
export const TERMINAL_TEXT_MAX = 160

export interface TerminalDisplay {
  /** The terminal's latest text during a payment, null when there is none. */
  text(): string | null
  /** Stops listening to the terminal. */
  close(): void
}

export function createTerminalDisplay(terminal: PaymentTerminal, onChange: () => void = () => {}): TerminalDisplay {
  let text: string | null = null
  let busy = terminal.status().busy

  const set = (next: string | null) => {
    if (next === text) return
    text = next
    onChange()
  }
  const onIntermediate = (raw: unknown) => {
    if (typeof raw !== 'string') return
    const cleaned = cleanTerminalText(raw, TERMINAL_TEXT_MAX)
    set(cleaned === '' ? null : cleaned)
  }
  const onStatus = (status: TerminalStatus | undefined) => {
    const nowBusy = status?.busy === true
    if (nowBusy !== busy) set(null)
    busy = nowBusy
  }
  terminal.on('intermediate', onIntermediate)
  terminal.on('status', onStatus)
  return {
    text: () => text,
    close() {
      terminal.off('intermediate', onIntermediate)
      terminal.off('status', onStatus)
    },
  }
}
