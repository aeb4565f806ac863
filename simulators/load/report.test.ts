// The bench report from a fixed results object: parsed strictly as XML (the
// page is written well-formed on purpose), every series has one point per
// measured rate or second, the limits and settings are on the page, and a
// hostile string stays text.
import t from 'tap'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { escapeHtml, jsonFigures, renderBenchReport } from './report.js'

const RESULTS = {
  e2eSalesPerSec: 1728,
  latencyMs: { p50: 2.2, p99: 8, max: 17.6, atOfferedPerSec: 500 },
  openLoop: [
    { offeredPerSec: 100, achievedPerSec: 100, p50: 4.4, p99: 8.9, p999: 11.1, max: 13, unanswered: 0, rejected: 0, sendLagMaxMs: 1.2, generatorIdleShare: 0.97 },
    { offeredPerSec: 500, achievedPerSec: 500, p50: 2.2, p99: 8, p999: 13.8, max: 17.6, unanswered: 0, rejected: 0, sendLagMaxMs: 2.5, generatorIdleShare: 0.9 },
    { offeredPerSec: 1000, achievedPerSec: 999, p50: 11.4, p99: 46.6, p999: 56.7, max: 60.2, unanswered: 0, rejected: 0, sendLagMaxMs: 3.1, generatorIdleShare: 0.8 },
    { offeredPerSec: 2000, achievedPerSec: 1728, p50: 1530, p99: 2816, p999: 2945, max: 2948, unanswered: 0, rejected: 0, sendLagMaxMs: 4, generatorIdleShare: 0.7 },
  ],
  closedLoopCapacityPerSec: 1000,
  capacityP99LimitMs: 50,
  capacitySearch: [
    { offeredPerSec: 1500, achievedPerSec: 1400, p99: 900, unanswered: 0 },
    { offeredPerSec: 1250, achievedPerSec: 1249, p99: 70, unanswered: 0 },
  ],
  throughputOverTime: { intervalMs: 1000, offeredPerSec: [100, 100, 0, 500, 500, 0, 0], achievedPerSec: [98, 102, 0, 480, 510, 10, 0] },
  limits: {
    ed25519VerifiesPerSec: 12984,
    ed25519VerifiesPerSecPool: 21223,
    brokerQos1RoundTripsPerSec: 7570,
    brokerConnections: 200,
    brokerPayloadBytes: 403,
    sqliteCommitsPerSec: { '1': 3610, '512': 201 },
  },
  generator: { maxRatePerSec: 9674, maxRateOfferedPerSec: 10000, idleShare: 0.7, sendLagMaxMs: 4 },
  kiosks: 200,
  salesOffered: 60690,
  salesAnsweredInPhases: 60690,
  salesBooked: 60690,
  ledgerBalanced: true,
  invariantViolations: 0,
}

const HOSTILE = `</td><script>alert("x")</script><img src=x onerror='y'>&amp;`

type Node = Record<string, unknown>
const parser = new XMLParser({ ignoreAttributes: false, preserveOrder: true, attributeNamePrefix: '' })

/** Every element of the parsed tree, depth first, as [name, attributes, children]. */
function elements(tree: unknown): Array<{ name: string; attrs: Record<string, string>; children: Node[] }> {
  const out: Array<{ name: string; attrs: Record<string, string>; children: Node[] }> = []
  const walk = (nodes: Node[]) => {
    for (const node of nodes) {
      const name = Object.keys(node).find((k) => k !== ':@')!
      if (name === '#text') continue
      const children = node[name] as Node[]
      out.push({ name, attrs: (node[':@'] ?? {}) as Record<string, string>, children })
      walk(children)
    }
  }
  walk(tree as Node[])
  return out
}

/** All text under an element, entities decoded. */
function text(children: Node[]): string {
  return children.map((n) => ('#text' in n ? String(n['#text']) : text(n[Object.keys(n).find((k) => k !== ':@')!] as Node[]))).join('')
}

function render(settings: Record<string, unknown> = { mode: 'full', rates: '100,500,1000,2000' }) {
  const html = renderBenchReport({ results: RESULTS, settings })
  return { html, nodes: elements(parser.parse(html)) }
}

t.test('the report is one well-formed page with no script and nothing fetched', async (t) => {
  const { html, nodes } = render()
  t.equal(XMLValidator.validate(html), true, 'parses strictly as XML')
  t.match(html, /^<!DOCTYPE html>/)
  t.notOk(nodes.some((n) => n.name === 'script'), 'no script element')
  t.notOk(nodes.some((n) => Object.keys(n.attrs).some((a) => a === 'src' || a === 'href' || a.startsWith('on'))), 'no src, href or event handler: nothing loads')
  t.notMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no address but the SVG namespace')
  t.same(
    nodes.filter((n) => n.name === 'svg').map((n) => n.attrs.id),
    ['latency-by-rate', 'achieved-by-rate', 'throughput-over-time'],
    'the three figures',
  )
})

t.test('every series has one point per measured rate or second', async (t) => {
  const { nodes } = render()
  const series = (svgId: string) => {
    const start = nodes.findIndex((n) => n.name === 'svg' && n.attrs.id === svgId)
    const svg = nodes[start]!
    return elements([{ svg: svg.children }]).filter((n) => n.name === 'g' && n.attrs.class === 'series')
  }
  const points = (g: { children: Node[] }) => elements(g.children).filter((n) => n.name === 'circle')
  const polyline = (g: { children: Node[] }) => elements(g.children).find((n) => n.name === 'polyline')?.attrs.points?.split(' ') ?? []

  const latency = series('latency-by-rate')
  t.same(latency.map((g) => g.attrs['data-series']), ['p50', 'p99', 'p99.9', 'max'])
  for (const g of latency) {
    t.equal(points(g).length, RESULTS.openLoop.length, `${g.attrs['data-series']}: a point per offered rate`)
    t.equal(polyline(g).length, RESULTS.openLoop.length, `${g.attrs['data-series']}: its line through each`)
  }
  const p99Titles = points(latency[1]!).map((c) => text(c.children))
  t.same(p99Titles, ['p99 at 100/s offered: 8.9 ms', 'p99 at 500/s offered: 8 ms', 'p99 at 1,000/s offered: 46.6 ms', 'p99 at 2,000/s offered: 2,816 ms'], 'each point names its value')

  const achieved = series('achieved-by-rate')
  t.same(achieved.map((g) => [g.attrs['data-series'], points(g).length]), [
    ['open loop', RESULTS.openLoop.length],
    ['capacity search', RESULTS.capacitySearch.length],
  ])

  const throughput = series('throughput-over-time')
  const seconds = RESULTS.throughputOverTime.offeredPerSec.length
  t.same(throughput.map((g) => [g.attrs['data-series'], points(g).length, polyline(g).length]), [
    ['offered', seconds, seconds],
    ['achieved', seconds, seconds],
  ])
  t.same(points(throughput[1]!).map((c) => text(c.children)).slice(3, 5), ['second 3: 480 answers', 'second 4: 510 answers'])
})

t.test('the limits stand beside the figures, the settings and every figure of the JSON line below', async (t) => {
  const { nodes } = render()
  const aside = nodes.find((n) => n.name === 'aside')!
  const panel = text(aside.children)
  for (const figure of ['12,984', '21,223', '7,570', '3,610', '9,674', '1,000']) t.match(panel, figure, `the panel shows ${figure}`)
  t.match(panel, '201 (102,912 sales/s)', 'SQLite commits of a batch and the sales/s they carry')

  const figures = nodes.find((n) => n.name === 'table' && n.attrs.class === 'figures')!
  const rows = elements(figures.children)
    .filter((n) => n.name === 'tr')
    .map((tr) => elements(tr.children).filter((c) => c.name === 'td').map((td) => text(td.children)))
    .filter((cells) => cells.length === 2)
  t.same(rows, jsonFigures(RESULTS), 'one row per leaf of the JSON line')
  t.ok(rows.some(([k, v]) => k === 'openLoop[3].p999' && v === '2945'))
  t.ok(rows.some(([k, v]) => k === 'throughputOverTime.achievedPerSec' && v === '98, 102, 0, 480, 510, 10, 0'))
})

t.test('a hostile setting or key stays text', async (t) => {
  const settings = { mode: HOSTILE, [HOSTILE]: 'key' }
  const html = renderBenchReport({ results: { ...RESULTS, [HOSTILE]: HOSTILE, openLoop: RESULTS.openLoop }, settings })
  t.equal(XMLValidator.validate(html), true, 'still well-formed')
  const nodes = elements(parser.parse(html))
  t.notOk(nodes.some((n) => n.name === 'script' || n.name === 'img'), 'no element from the string')
  const settingsTable = nodes.find((n) => n.name === 'table' && n.attrs.class === 'settings')!
  const cells = elements(settingsTable.children).filter((n) => n.name === 'td').map((td) => text(td.children))
  t.same(cells, ['mode', HOSTILE, HOSTILE, 'key'], 'the string as text, as a value and as a key')
  const figures = nodes.find((n) => n.name === 'table' && n.attrs.class === 'figures')!
  t.ok(elements(figures.children).some((n) => n.name === 'td' && text(n.children) === HOSTILE), 'a hostile key of the JSON line too')
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;')
})

t.test('a run without the end-to-end part still renders, saying what was not measured', async (t) => {
  const html = renderBenchReport({ results: { portalLoad: { baseline: { achievedPerSec: 441 } } }, settings: { only: 'portal-load' } })
  t.equal(XMLValidator.validate(html), true)
  t.match(html, 'Latency against offered rate (open loop, from each sale’s intended send time): not measured in this run.')
  t.match(html, '<td>portalLoad.baseline.achievedPerSec</td><td>441</td>')
  t.notMatch(html, '<svg', 'no empty figure')
})
