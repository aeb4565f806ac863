// The live screen: the model fed by the source, redrawn in place with
// log-update on every change (at most every renderIntervalMs) and every second
// (the "seen" ages move, and a gateway that went silent is noticed). The fleet
// table is cut to the terminal's height from the bottom, where the healthiest
// kiosks are.
import { createLogUpdate } from 'log-update'
import { initialMonitorState, monitorReduce, type MonitorEvent, type MonitorState } from './model.js'
import { renderScreen, type RenderContext } from './render.js'

export interface LiveScreenStream {
  write(text: string): unknown
  columns?: number
  rows?: number
}

export interface LiveMonitorOptions {
  stream: LiveScreenStream
  url: string
  operator: string
  now: () => number
  renderIntervalMs?: number
  tickMs?: number
}

export interface LiveMonitor {
  /** Feed to the source. */
  onEvent(event: MonitorEvent): void
  readonly state: MonitorState
  /** Stops redrawing and leaves the last screen on the terminal. */
  stop(): void
}

/** The screen for a terminal of `rows` lines: as many fleet rows as fit. */
export function screenForTerminal(state: MonitorState, ctx: Omit<RenderContext, 'maxFleetRows'>, rows: number): string {
  const full = renderScreen(state, ctx)
  const fleet = (state.gateway?.fleet ?? state.lastFleet?.fleet)?.length ?? 0
  const lineCount = full.split('\n').length
  if (lineCount < rows || fleet === 0) return full
  // One line more than the overflow: it says how many kiosks are not shown.
  return renderScreen(state, { ...ctx, maxFleetRows: Math.max(0, fleet - (lineCount - rows + 2)) })
}

export function startLiveMonitor(options: LiveMonitorOptions): LiveMonitor {
  const { stream, now } = options
  const draw = createLogUpdate(stream as NodeJS.WritableStream, { showCursor: stream !== process.stdout })
  let state = initialMonitorState(now())
  let stopped = false
  let pending: NodeJS.Timeout | null = null
  let lastDrawAt = 0

  const redraw = () => {
    if (stopped) return
    pending = null
    lastDrawAt = now()
    draw(screenForTerminal(state, { now: lastDrawAt, url: options.url, operator: options.operator, width: stream.columns ?? 120 }, stream.rows ?? 40))
  }
  const scheduleRedraw = () => {
    if (pending !== null || stopped) return
    const interval = options.renderIntervalMs ?? 250
    pending = setTimeout(redraw, Math.max(0, lastDrawAt + interval - now()))
  }
  const ticker = setInterval(() => {
    state = monitorReduce(state, { kind: 'tick', at: now() })
    redraw()
  }, options.tickMs ?? 1_000)
  redraw()

  return {
    onEvent(event) {
      state = monitorReduce(state, event)
      scheduleRedraw()
    },
    get state() {
      return state
    },
    stop() {
      if (stopped) return
      if (pending !== null) clearTimeout(pending)
      redraw()
      stopped = true
      clearInterval(ticker)
      draw.done()
    },
  }
}
