// Reads a V8 .cpuprofile (node --cpu-prof, or `npm run bench -- --profile DIR`,
// which writes the gateway's) and sums self time per function and per file, so
// a profile can be read in a terminal and two profiles compared as shares.
//
//   npm run profile-summary -- FILE.cpuprofile [--top N] [--skip-ms MS] [--json]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/** The parts of V8's profile format this reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface SelfTime {
  name: string
  selfMs: number
  /** Of all sampled time, idle included. */
  share: number
}

export interface ProfileSummary {
  totalMs: number
  /** Sampled time the thread was not idle (garbage collection included). */
  busyMs: number
  /** Share of the samples in V8's "(idle)" node: the event loop waiting. */
  idleShare: number
  functions: SelfTime[]
  files: SelfTime[]
}

/** Where a frame's code is: node_modules/<package> for a dependency, the path below the repository otherwise. */
export function fileLabel(url: string): string {
  if (url === '') return '(native)'
  const path = url.replace(/^file:\/\//, '')
  const modules = path.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/')
    return `node_modules/${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  if (path.startsWith('node:')) return path
  const ours = path.match(/\/(gateway|device-protocol|portal-api|simulators|daemon)\/.*/)
  return ours !== null ? ours[0].slice(1) : path
}

/** `skipMs`: samples of the profile's first milliseconds (the gateway's start, compiling TypeScript) are left out. */
export function summariseProfile(profile: CpuProfile, top = 25, skipMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  // Each delta is the time before its sample; attribute it to the sample's node (V8's own convention, close enough at 1 ms).
  let atUs = 0
  for (let i = 0; i < samples.length; i++) {
    const delta = Math.max(0, deltas[i] ?? 0)
    // A sample counts when the time it stands for starts at or after skipMs.
    if (atUs >= skipMs * 1000) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + delta)
    atUs += delta
  }
  let totalUs = 0
  let idleUs = 0
  const perFunction = new Map<string, number>()
  const perFile = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (node === undefined) continue
    totalUs += us
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') idleUs += us
    const file = fileLabel(url)
    const fn = `${functionName || '(anonymous)'} ${url === '' ? '' : `${file}:${lineNumber + 1}`}`.trim()
    perFunction.set(fn, (perFunction.get(fn) ?? 0) + us)
    perFile.set(file, (perFile.get(file) ?? 0) + us)
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, share: totalUs === 0 ? 0 : Math.round((us / totalUs) * 1000) / 1000 }))
  return { totalMs: Math.round(totalUs / 1000), busyMs: Math.round((totalUs - idleUs) / 1000), idleShare: totalUs === 0 ? 0 : Math.round((idleUs / totalUs) * 1000) / 1000, functions: rank(perFunction), files: rank(perFile) }
}

/** Readable lines: the busiest functions and files by self time, with their share of the profile. */
export function profileSummaryLines(summary: ProfileSummary): string[] {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`
  return [
    `profile: ${summary.totalMs} ms sampled, ${summary.busyMs} ms busy, idle ${pct(summary.idleShare)}`,
    'self time by function:',
    ...summary.functions.map((f) => `  ${pct(f.share)} ${String(f.selfMs).padStart(9)} ms  ${f.name}`),
    'self time by file:',
    ...summary.files.map((f) => `  ${pct(f.share)} ${String(f.selfMs).padStart(9)} ms  ${f.name}`),
  ]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'skip-ms': { type: 'string', default: '0' }, json: { type: 'boolean', default: false } } })
  if (positionals.length !== 1) {
    console.error('usage: npm run profile-summary -- FILE.cpuprofile [--top N] [--skip-ms MS] [--json]')
    process.exit(2)
  }
  const summary = summariseProfile(JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile, Number(values.top), Number(values['skip-ms']))
  if (values.json) console.log(JSON.stringify(summary))
  else for (const line of profileSummaryLines(summary)) console.log(line)
}
