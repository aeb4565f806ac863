// The profile summary sums V8's samples into self time per function and per
// file, idle apart, and can leave the start of a profile out.
import t from 'tap'
import { fileLabel, profileSummaryLines, summariseProfile, type CpuProfile } from './profile-summary.js'

const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, scriptId: '0', columnNumber: 0 })
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)', '') },
    { id: 2, callFrame: frame('(idle)', '') },
    { id: 3, callFrame: frame('writeTransaction', 'file:///work/main/gateway/ledger/sqlite-store.ts', 118) },
    { id: 4, callFrame: frame('released', 'file:///work/main/node_modules/mqemitter/mqemitter.js', 40) },
    { id: 5, callFrame: frame('verify', 'file:///x/node_modules/@noble/curves/ed25519.js', 9) },
  ],
  startTime: 0,
  endTime: 10_000,
  // Each delta (µs) is the time before its sample.
  samples: [2, 3, 3, 4, 2, 5],
  timeDeltas: [1_000, 4_000, 2_000, 1_000, 1_000, 1_000],
}

t.test('self time per function and per file, as shares of all sampled time', async (t) => {
  const summary = summariseProfile(profile)
  t.equal(summary.totalMs, 10)
  t.equal(summary.busyMs, 8)
  t.equal(summary.idleShare, 0.2)
  t.same(summary.functions[0], { name: 'writeTransaction gateway/ledger/sqlite-store.ts:119', selfMs: 6, share: 0.6 })
  t.same(
    summary.files.map((f) => f.name),
    ['gateway/ledger/sqlite-store.ts', '(native)', 'node_modules/mqemitter', 'node_modules/@noble/curves'],
  )
  t.ok(profileSummaryLines(summary).some((l) => l.includes('60.0%') && l.includes('writeTransaction')))
})

t.test('the first milliseconds can be left out (the gateway starting)', async (t) => {
  const summary = summariseProfile(profile, 25, 5)
  // The samples stand for 0-1, 1-5, 5-7, 7-8, 8-9 and 9-10 ms: those from 5 ms on count.
  t.equal(summary.totalMs, 5)
  t.same(summary.functions.find((f) => f.name.startsWith('writeTransaction'))?.selfMs, 2)
})

t.test('files are named by package or by their path in the repository', async (t) => {
  t.equal(fileLabel(''), '(native)')
  t.equal(fileLabel('node:internal/crypto/sig'), 'node:internal/crypto/sig')
  t.equal(fileLabel('file:///a/node_modules/better-sqlite3/lib/methods/transaction.js'), 'node_modules/better-sqlite3')
  t.equal(fileLabel('file:///work/main/device-protocol/validate.ts'), 'device-protocol/validate.ts')
})
