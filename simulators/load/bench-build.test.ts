// The bench's transpiled build (bench-build.ts): made once and stored in the
// cache folder under a digest of the sources, found again by the next run,
// and its load generator entry runs without ts-node.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { benchCacheDir, cachedBenchBuild, defaultBenchCacheDir, sourceDigest } from './bench-build.js'

t.test('the build is stored, found again for the same sources, and runs the load generator', async (t) => {
  const cacheDir = t.testdir()
  // A fixed digest: others may be editing the sources while this runs.
  const first = cachedBenchBuild(cacheDir, undefined, 'a'.repeat(64))
  t.equal(first.reused, false, 'nothing stored: built')
  t.ok(first.modules > 100, 'the gateway, the daemon and the load generator')
  const second = cachedBenchBuild(cacheDir, undefined, 'a'.repeat(64))
  t.equal(second.reused, true, 'the same sources: the stored build')
  t.equal(second.dir, first.dir)
  const usage = execFileSync(process.execPath, [...second.loadArgs, '--help'], { encoding: 'utf8' })
  t.match(usage, /wristpay-sim load --mqtt URL --fleet FILE/, 'the load generator runs from plain JavaScript')
  t.ok(existsSync(second.tillEntry) && existsSync(second.gatewayArgs[0]!), "the till's and the gateway's entries are there")

})

t.test('a stored build without its marker (cut short) is never used; older builds are removed', async (t) => {
  const cacheDir = t.testdir()
  let builds = 0
  // A stand-in for the transpiler: these cases are about the marker, not the modules.
  const make = (outDir: string) => {
    builds += 1
    mkdirSync(outDir, { recursive: true })
    return { dir: outDir, modules: 1, gatewayArgs: [], loadArgs: [], tillEntry: '' }
  }
  const key = 'b'.repeat(64)
  const first = cachedBenchBuild(cacheDir, make, key)
  t.equal(cachedBenchBuild(cacheDir, make, key).reused, true)
  t.equal(builds, 1, 'built once')
  rmSync(join(first.dir, '..', 'bench-build.json'))
  t.equal(cachedBenchBuild(cacheDir, make, key).reused, false, 'without its marker: built again')
  t.equal(builds, 2)
  t.equal(cachedBenchBuild(cacheDir, make, 'c'.repeat(64)).reused, false, 'other sources: built')
  t.notOk(existsSync(join(first.dir, '..')), "and the build of this checkout's older sources is removed")
})

t.test('the digest names the sources; the cache folder follows XDG_CACHE_HOME and WRISTPAY_BENCH_CACHE', async (t) => {
  t.match(sourceDigest(), /^[0-9a-f]{64}$/)
  t.equal(defaultBenchCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'wristpay-bench'))
  t.equal(benchCacheDir({ WRISTPAY_BENCH_CACHE: '/y' }), '/y')
  t.equal(benchCacheDir({ WRISTPAY_BENCH_CACHE: 'off' }), undefined, 'off: no cache')
  t.equal(benchCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'wristpay-bench'))
})
