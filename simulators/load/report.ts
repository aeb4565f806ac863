// The bench's results as a page a person can open: one self-contained HTML
// file with inline SVG figures (no scripts, no network), built by a pure
// function from the bench's JSON line and the run's settings. It shows
// latency (p50, p99, p99.9, max) and the achieved rate against the offered
// rate, the throughput second by second through the run, the limits of the
// machine beside them, the settings, and every figure of the JSON line.
// Every string that comes from outside this module is escaped, so a setting
// or a key cannot become markup. The markup is also well-formed XML (void
// elements closed, attributes quoted), so a test can parse it strictly.

export interface BenchReportInput {
  /** The bench's JSON line as printed (`npm run bench` prints it last). */
  results: Record<string, unknown>
  /** What the run was asked to do and where: flags, machine, times; shown as given. */
  settings: Record<string, unknown>
}

/** The fields of the JSON line the figures read; each may be missing (`--only portal-load`). */
interface OpenLoopRow {
  offeredPerSec: number
  achievedPerSec: number
  p50: number
  p99: number
  p999: number
  max: number
  unanswered?: number
}
interface CapacityRow {
  offeredPerSec: number
  achievedPerSec: number
  p99: number
  unanswered?: number
}
interface ResultsView {
  openLoop?: OpenLoopRow[]
  capacitySearch?: CapacityRow[]
  closedLoopCapacityPerSec?: number
  capacityP99LimitMs?: number
  e2eSalesPerSec?: number
  latencyMs?: { p50: number; p99: number; max: number; atOfferedPerSec?: number }
  throughputOverTime?: { intervalMs: number; offeredPerSec: number[]; achievedPerSec: number[] }
  limits?: {
    ed25519VerifiesPerSec?: number
    ed25519VerifiesPerSecPool?: number
    ed25519VerifiesPerSecVerifyThreads?: number
    verifyThreads?: number
    brokerQos1RoundTripsPerSec?: number
    brokerConnections?: number
    brokerPayloadBytes?: number
    sqliteCommitsPerSec?: Record<string, number>
  }
  generator?: { maxRatePerSec?: number; idleShare?: number; sendLagMaxMs?: number }
  salesOffered?: number
  salesBooked?: number
  ledgerBalanced?: boolean
  invariantViolations?: number
  /** The same load against a gateway on PostgreSQL (postgres-bench.ts), or why it was skipped. */
  postgres?: {
    skipped?: string
    closedLoopCapacityPerSec?: number
    capacityP99LimitMs?: number
    e2eSalesPerSec?: number
    latencyMs?: { p50: number; p99: number; max: number; atOfferedPerSec?: number }
    limits?: { postgresCommitsPerSec?: Record<string, number> }
    salesOffered?: number
    salesBooked?: number
    ledgerBalanced?: boolean
  }
}

/** Text or an attribute value, safe inside markup. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
}

const number = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })

// ---- charts ----------------------------------------------------------------

interface Series {
  /** Its name in the legend and in data-series. */
  name: string
  color: string
  points: Array<[number, number]>
  /** Joins the points with a line (otherwise points only). */
  line: boolean
  dashed?: boolean
  /** The hover text of a point. */
  describe: (x: number, y: number) => string
}

interface ChartSpec {
  id: string
  title: string
  xLabel: string
  yLabel: string
  yLog?: boolean
  series: Series[]
  /** Horizontal lines (limits); drawn only where they fall inside the plot's range. */
  references?: Array<{ y: number; label: string }>
  /** Draws y = x: where achieved equals offered. */
  diagonal?: boolean
}

const WIDTH = 640
const HEIGHT = 340
const MARGIN = { left: 70, right: 20, top: 30, bottom: 46 }
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom
/** Latencies below this are drawn at it on a log axis (0 means nothing was measured). */
const LOG_FLOOR = 0.01

/** About five round tick values from 0 to at least `max`. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1]
  const raw = max / 5
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!
  const ticks: number[] = []
  for (let v = 0; v < max + step; v += step) ticks.push(Math.round(v * 1e6) / 1e6)
  return ticks
}

/** Powers of ten (with 2 and 5 between them when the range is narrow) covering min..max. */
function logTicks(min: number, max: number): number[] {
  const low = Math.floor(Math.log10(Math.max(LOG_FLOOR, min)))
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(LOG_FLOOR, max))))
  const ticks: number[] = []
  for (let e = low; e <= high; e++) for (const m of high - low <= 3 ? [1, 2, 5] : [1]) ticks.push(m * 10 ** e)
  return ticks.filter((t) => t <= 10 ** high)
}

const fmtCoord = (v: number) => (Math.round(v * 10) / 10).toString()

function chart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.points)
  if (all.length === 0) return `<p class="empty" id="${escapeHtml(spec.id)}">${escapeHtml(spec.title)}: not measured in this run.</p>`
  const xs = all.map(([x]) => x)
  const ys = all.map(([, y]) => (spec.yLog ? Math.max(LOG_FLOOR, y) : y))
  const xTicks = linearTicks(Math.max(...xs))
  const xMax = xTicks[xTicks.length - 1]!
  const yTicks = spec.yLog ? logTicks(Math.min(...ys), Math.max(...ys)) : linearTicks(Math.max(...ys, ...(spec.diagonal ? xs : [])))
  const yMin = spec.yLog ? yTicks[0]! : 0
  const yMax = yTicks[yTicks.length - 1]!
  const sx = (x: number) => MARGIN.left + (x / xMax) * PLOT_W
  const sy = (y: number) =>
    spec.yLog
      ? MARGIN.top + PLOT_H - ((Math.log10(Math.max(LOG_FLOOR, y)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * PLOT_H
      : MARGIN.top + PLOT_H - (y / yMax) * PLOT_H
  const parts: string[] = []
  parts.push(`<rect class="plot" x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}"/>`)
  for (const t of xTicks)
    parts.push(
      `<line class="grid" x1="${fmtCoord(sx(t))}" y1="${MARGIN.top}" x2="${fmtCoord(sx(t))}" y2="${MARGIN.top + PLOT_H}"/>`,
      `<text class="tick" x="${fmtCoord(sx(t))}" y="${MARGIN.top + PLOT_H + 16}" text-anchor="middle">${escapeHtml(number(t, 2))}</text>`,
    )
  for (const t of yTicks)
    parts.push(
      `<line class="grid" x1="${MARGIN.left}" y1="${fmtCoord(sy(t))}" x2="${MARGIN.left + PLOT_W}" y2="${fmtCoord(sy(t))}"/>`,
      `<text class="tick" x="${MARGIN.left - 6}" y="${fmtCoord(sy(t) + 4)}" text-anchor="end">${escapeHtml(number(t, 2))}</text>`,
    )
  parts.push(
    `<text class="axis" x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeHtml(spec.xLabel)}</text>`,
    `<text class="axis" transform="translate(16 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(spec.yLabel)}${spec.yLog ? ' (log scale)' : ''}</text>`,
  )
  if (spec.diagonal) {
    const end = Math.min(xMax, yMax)
    parts.push(`<line class="diagonal" x1="${fmtCoord(sx(0))}" y1="${fmtCoord(sy(0))}" x2="${fmtCoord(sx(end))}" y2="${fmtCoord(sy(end))}"><title>achieved = offered</title></line>`)
  }
  for (const ref of spec.references ?? []) {
    if (!(ref.y > yMin && ref.y <= yMax)) continue
    parts.push(
      `<g class="reference" data-reference="${escapeHtml(ref.label)}"><line x1="${MARGIN.left}" y1="${fmtCoord(sy(ref.y))}" x2="${MARGIN.left + PLOT_W}" y2="${fmtCoord(sy(ref.y))}"/>` +
        `<text x="${MARGIN.left + PLOT_W - 4}" y="${fmtCoord(sy(ref.y) - 4)}" text-anchor="end">${escapeHtml(`${ref.label}: ${number(ref.y, 2)}`)}</text></g>`,
    )
  }
  spec.series.forEach((s, i) => {
    const coords = s.points.map(([x, y]) => `${fmtCoord(sx(x))},${fmtCoord(sy(y))}`)
    const line = s.line && coords.length > 1 ? `<polyline points="${coords.join(' ')}" stroke="${s.color}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>` : ''
    const dots = s.points
      .map(([x, y], j) => `<circle cx="${coords[j]!.split(',')[0]}" cy="${coords[j]!.split(',')[1]}" r="${s.line && s.points.length > 40 ? 1.5 : 3.5}" fill="${s.color}"><title>${escapeHtml(s.describe(x, y))}</title></circle>`)
      .join('')
    parts.push(`<g class="series" data-series="${escapeHtml(s.name)}" data-points="${s.points.length}">${line}${dots}</g>`)
    const ly = MARGIN.top - 10
    const lx = MARGIN.left + 8 + i * 120
    parts.push(`<g class="legend"><rect x="${lx}" y="${ly - 8}" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="${ly + 1}">${escapeHtml(s.name)}</text></g>`)
  })
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" id="${escapeHtml(spec.id)}" role="img" aria-label="${escapeHtml(spec.title)}" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}">` +
    `<title>${escapeHtml(spec.title)}</title>${parts.join('')}</svg>`
  )
}

const COLORS = { p50: '#2b8a3e', p99: '#1c7ed6', p999: '#f08c00', max: '#e03131', offered: '#868e96', achieved: '#1c7ed6', capacity: '#ae3ec9' }

function latencyFigure(r: ResultsView): string {
  const rows = r.openLoop ?? []
  const percentile = (name: string, key: 'p50' | 'p99' | 'p999' | 'max', color: string): Series => ({
    name,
    color,
    line: true,
    points: rows.map((row) => [row.offeredPerSec, row[key]]),
    describe: (x, y) => `${name} at ${number(x)}/s offered: ${number(y, 2)} ms`,
  })
  return chart({
    id: 'latency-by-rate',
    title: 'Latency against offered rate (open loop, from each sale’s intended send time)',
    xLabel: 'offered sales/s',
    yLabel: 'latency ms',
    yLog: true,
    series: [percentile('p50', 'p50', COLORS.p50), percentile('p99', 'p99', COLORS.p99), percentile('p99.9', 'p999', COLORS.p999), percentile('max', 'max', COLORS.max)],
    references: r.capacityP99LimitMs === undefined ? [] : [{ y: r.capacityP99LimitMs, label: 'capacity p99 limit ms' }],
  })
}

function achievedFigure(r: ResultsView): string {
  const limits = r.limits ?? {}
  const references = [
    { y: r.closedLoopCapacityPerSec, label: 'capacity at the p99 limit' },
    { y: r.generator?.maxRatePerSec, label: 'generator vs null gateway' },
    { y: limits.ed25519VerifiesPerSec, label: 'Ed25519 verifies/s, one core' },
    { y: limits.brokerQos1RoundTripsPerSec, label: 'broker QoS 1 round trips/s' },
  ].filter((ref): ref is { y: number; label: string } => typeof ref.y === 'number' && ref.y > 0)
  return chart({
    id: 'achieved-by-rate',
    title: 'Achieved against offered rate',
    xLabel: 'offered sales/s',
    yLabel: 'achieved sales/s',
    diagonal: true,
    series: [
      {
        name: 'open loop',
        color: COLORS.achieved,
        line: true,
        points: (r.openLoop ?? []).map((row) => [row.offeredPerSec, row.achievedPerSec]),
        describe: (x, y) => `open loop: ${number(y)} of ${number(x)} sales/s offered`,
      },
      {
        name: 'capacity search',
        color: COLORS.capacity,
        line: false,
        points: (r.capacitySearch ?? []).map((row) => [row.offeredPerSec, row.achievedPerSec]),
        describe: (x, y) => `capacity search: ${number(y)} of ${number(x)} sales/s offered`,
      },
    ],
    references,
  })
}

function throughputFigure(r: ResultsView): string {
  const t = r.throughputOverTime
  const seconds = (values: number[] | undefined): Array<[number, number]> => (values ?? []).map((v, i) => [i, v])
  return chart({
    id: 'throughput-over-time',
    title: 'Throughput over time (every phase against the real gateway, one point per second)',
    xLabel: 'seconds since the first phase started',
    yLabel: 'sales/s',
    series: [
      { name: 'offered', color: COLORS.offered, line: true, dashed: true, points: seconds(t?.offeredPerSec), describe: (x, y) => `second ${x}: ${number(y)} sales due` },
      { name: 'achieved', color: COLORS.achieved, line: true, points: seconds(t?.achievedPerSec), describe: (x, y) => `second ${x}: ${number(y)} answers` },
    ],
  })
}

// ---- tables ----------------------------------------------------------------

function table(headers: string[], rows: Array<Array<string | number | undefined>>, className = ''): string {
  if (rows.length === 0) return ''
  const cell = (v: string | number | undefined) => `<td>${escapeHtml(typeof v === 'number' ? number(v, 2) : (v ?? '–'))}</td>`
  return (
    `<table${className ? ` class="${className}"` : ''}><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('')}</tbody></table>`
  )
}

/** The best sales/s a store's commits carry, over the batch sizes measured. */
const bestCommitSales = (commits: Record<string, number> | undefined): number | undefined =>
  commits === undefined || Object.keys(commits).length === 0 ? undefined : Math.max(...Object.entries(commits).map(([size, n]) => Number(size) * n))

/** SQLite's and PostgreSQL's figures of the same run in one table; a sentence when the PostgreSQL part was skipped. */
function storesTable(r: ResultsView): string {
  const pg = r.postgres
  if (pg === undefined) return ''
  if (pg.skipped !== undefined) return `<p class="empty" id="stores">PostgreSQL store: skipped in this run: ${escapeHtml(pg.skipped)}</p>`
  const row = (name: string, f: Omit<NonNullable<ResultsView['postgres']>, 'limits'>, commits: Record<string, number> | undefined) => [
    name,
    f.closedLoopCapacityPerSec,
    f.latencyMs?.p99,
    f.latencyMs?.atOfferedPerSec,
    f.e2eSalesPerSec,
    bestCommitSales(commits),
    f.salesOffered === undefined ? undefined : `${number(f.salesBooked)} of ${number(f.salesOffered)}, ${f.ledgerBalanced ? 'balanced' : 'NOT balanced'}`,
  ]
  const rows = [
    ...(r.closedLoopCapacityPerSec === undefined ? [] : [row('SQLite', r, r.limits?.sqliteCommitsPerSec)]),
    row('PostgreSQL', pg, pg.limits?.postgresCommitsPerSec),
  ]
  return (
    `<h2 id="stores">The two stores, same run</h2>` +
    table([`store`, `capacity (p99 < ${number(pg.capacityP99LimitMs ?? r.capacityP99LimitMs)} ms) sales/s`, 'p99 ms', 'at offered/s', 'most answered/s', 'commit limit sales/s', 'sales booked'], rows, 'stores')
  )
}

function limitsPanel(r: ResultsView): string {
  const l = r.limits
  const rows: Array<[string, string]> = []
  if (l !== undefined) {
    rows.push(['Ed25519 verifies/s, one core', number(l.ed25519VerifiesPerSec)], ['Ed25519 verifies/s, thread pool', number(l.ed25519VerifiesPerSecPool)])
    if (l.ed25519VerifiesPerSecVerifyThreads !== undefined)
      rows.push([`Ed25519 verifies/s, the gateway's ${number(l.verifyThreads)} signature-check thread(s)`, number(l.ed25519VerifiesPerSecVerifyThreads)])
    rows.push([`broker QoS 1 round trips/s (${number(l.brokerConnections)} connections, ${number(l.brokerPayloadBytes)} bytes)`, number(l.brokerQos1RoundTripsPerSec)])
    for (const [size, commits] of Object.entries(l.sqliteCommitsPerSec ?? {})) rows.push([`SQLite commits/s of ${size} sale(s)`, `${number(commits)} (${number(commits * Number(size))} sales/s)`])
  }
  for (const [size, commits] of Object.entries(r.postgres?.limits?.postgresCommitsPerSec ?? {}))
    rows.push([`PostgreSQL commits/s of ${size} sale(s)`, `${number(commits)} (${number(commits * Number(size))} sales/s)`])
  if (r.generator !== undefined) {
    rows.push(['generator against the null gateway, sales/s', number(r.generator.maxRatePerSec)])
    rows.push(['generator idle share, least in a phase', number(r.generator.idleShare, 3)])
  }
  const summary: Array<[string, string]> = []
  if (r.closedLoopCapacityPerSec !== undefined) summary.push([`capacity with p99 under ${number(r.capacityP99LimitMs)} ms, sales/s`, number(r.closedLoopCapacityPerSec)])
  if (r.e2eSalesPerSec !== undefined) summary.push(['most sales/s answered in a phase', number(r.e2eSalesPerSec)])
  if (r.latencyMs !== undefined)
    summary.push([`latency at ${number(r.latencyMs.atOfferedPerSec)}/s offered, ms`, `p50 ${number(r.latencyMs.p50, 2)} · p99 ${number(r.latencyMs.p99, 2)} · max ${number(r.latencyMs.max, 2)}`])
  if (r.salesOffered !== undefined) summary.push(['sales booked of offered', `${number(r.salesBooked)} of ${number(r.salesOffered)}`])
  if (r.ledgerBalanced !== undefined) summary.push(['books balanced, invariant violations', `${String(r.ledgerBalanced)}, ${number(r.invariantViolations)}`])
  const list = (pairs: Array<[string, string]>) => table(['', ''], pairs, 'pairs')
  return `<aside><h2>Result</h2>${summary.length > 0 ? list(summary) : '<p>No end-to-end run.</p>'}<h2>Limits of this machine, same run</h2>${rows.length > 0 ? list(rows) : '<p>Not measured in this run.</p>'}</aside>`
}

/** Every leaf of the JSON line as a path (openLoop[0].p99) and its value; arrays of numbers stay one row. */
export function jsonFigures(value: unknown, path = ''): Array<[string, string]> {
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return [[path, value.join(', ')]]
  if (Array.isArray(value)) return value.flatMap((v, i) => jsonFigures(v, `${path}[${i}]`))
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => jsonFigures(v, path === '' ? k : `${path}.${k}`))
  return [[path, value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value)]]
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212529;max-width:1200px}
h1{font-size:22px}h2{font-size:16px;margin:18px 0 6px}
.layout{display:grid;grid-template-columns:minmax(0,660px) minmax(260px,1fr);gap:24px;align-items:start}
aside{position:sticky;top:12px;background:#f8f9fa;padding:8px 14px;border-radius:6px}
figure{margin:0 0 18px}figcaption{font-size:13px;color:#495057}
table{border-collapse:collapse;margin:6px 0 12px}td,th{border-bottom:1px solid #dee2e6;padding:3px 10px;text-align:right}
th{background:#f1f3f5}td:first-child,th:first-child{text-align:left}
table.settings td{text-align:left}table.settings td:first-child,table.figures td:first-child{white-space:nowrap}table.figures td{text-align:left}
table.pairs thead{display:none}table.pairs td:last-child{font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto;font:11px system-ui,sans-serif}
svg .plot{fill:#fff;stroke:#adb5bd}svg .grid{stroke:#f1f3f5}svg .tick{fill:#495057}svg .axis{fill:#212529;font-size:12px}
svg polyline{fill:none;stroke-width:2}svg .diagonal{stroke:#adb5bd;stroke-dasharray:3 3}
svg .reference line{stroke:#c92a2a;stroke-dasharray:2 4}svg .reference text{fill:#c92a2a}
details{margin:12px 0}code{font-size:12px}.empty{color:#868e96}
`

export function renderBenchReport({ results, settings }: BenchReportInput): string {
  const r = results as ResultsView
  const openLoopRows = (r.openLoop ?? []).map((row) => [row.offeredPerSec, row.achievedPerSec, row.p50, row.p99, row.p999, row.max, row.unanswered])
  const capacityRows = (r.capacitySearch ?? []).map((row) => [row.offeredPerSec, row.achievedPerSec, row.p99, row.unanswered])
  const settingRows = Object.entries(settings).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)])
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>wristpay bench report</title><style>${STYLE}</style></head>
<body>
<h1>wristpay bench report</h1>
<div class="layout"><main>
<figure>${latencyFigure(r)}<figcaption>Latency from each sale’s intended send time to its answer, so queueing counts; one point per offered rate.</figcaption></figure>
${table(['offered/s', 'achieved/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'unanswered'], openLoopRows)}
<figure>${achievedFigure(r)}<figcaption>Answers per second against sales offered per second; on the dashed diagonal the gateway kept up. Limits in sales/s are drawn where they fall inside the plot.</figcaption></figure>
${table(['capacity search offered/s', 'achieved/s', 'p99 ms', 'unanswered'], capacityRows)}
<figure>${throughputFigure(r)}<figcaption>Sales due (offered) and answers received (achieved) in each second of the run against the real gateway: the open-loop phases, then the capacity search; answers after a phase show a queue draining.</figcaption></figure>
${storesTable(r)}
</main>${limitsPanel(r)}</div>
<h2>Settings of this run</h2>
${table(['setting', 'value'], settingRows, 'settings')}
<details><summary>Every figure of the JSON line</summary>
${table(['key', 'value'], jsonFigures(results), 'figures')}
</details>
</body></html>
`
}
