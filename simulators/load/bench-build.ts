// The benchmark's child processes (the gateway, the load generator, the growth
// bench's till) as plain JavaScript, transpiled once per bench process: started
// through ts-node each would compile its few hundred modules again (about 6 s
// of CPU for the load generator and 10 s for the gateway on the development
// machine, on every start). The sources are transpiled as the chaos run does
// it (../chaos/compile.ts: transpile only, type errors are the typecheck's
// job), plus the load generator's and the till's folders. Transpiling costs
// seconds of CPU too (about 5 s for the 350 modules), so the build is kept in
// the bench's cache folder, named by a digest of every source it is made from:
// a source that changes makes a new build, never a stale one.
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { compileForChaos } from '../chaos/compile.js'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
/** Beside the chaos run's folders: the load generator (simulators/load) and the simulated kiosks it uses (simulators/demo). */
const EXTRA_FOLDERS = ['simulators/load', 'simulators/demo']

export interface BenchBuild {
  /** The transpiled tree (removed when the process exits). */
  dir: string
  modules: number
  /** node arguments that run `wristpay-gateway`, `wristpay-sim load` and the growth bench's till. */
  gatewayArgs: string[]
  loadArgs: string[]
  tillEntry: string
}

function transpileFolder(from: string, to: string): number {
  let count = 0
  mkdirSync(to, { recursive: true })
  for (const name of readdirSync(from)) {
    const source = join(from, name)
    if (statSync(source).isDirectory() || !name.endsWith('.ts') || name.endsWith('.test.ts') || name.endsWith('.d.ts')) continue
    const output = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, esModuleInterop: true, isolatedModules: true },
      fileName: source,
    })
    writeFileSync(join(to, name.replace(/\.ts$/, '.js')), output.outputText)
    count += 1
  }
  return count
}

/** Transpiles what the bench's children run into `outDir`. */
export function buildBenchInto(outDir: string): BenchBuild {
  let modules = compileForChaos(outDir)
  for (const folder of EXTRA_FOLDERS) modules += transpileFolder(join(ROOT, folder), join(outDir, folder))
  return buildPaths(outDir, modules)
}

function buildPaths(outDir: string, modules: number): BenchBuild {
  return {
    dir: outDir,
    modules,
    gatewayArgs: [join(outDir, 'gateway/bin.js')],
    loadArgs: [join(outDir, 'simulators/load/load-main.js')],
    tillEntry: join(outDir, 'simulators/load/till-child.js'),
  }
}

/** The top-level folders the build is made of (every folder compileForChaos and EXTRA_FOLDERS read lies in one). */
const SOURCE_FOLDERS = ['device-protocol', 'daemon', 'gateway', 'portal-api', 'simulators']

/** The bench's cache folder: $XDG_CACHE_HOME/wristpay-bench, else ~/.cache/wristpay-bench. */
export function defaultBenchCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache')
  return join(base, 'wristpay-bench')
}

/** A digest of every file the build is made from, the checkout's path (its node_modules is linked in) and the compiler's version. */
export function sourceDigest(root = ROOT): string {
  const hash = createHash('sha256').update(`${root}\0${ts.version}\0`)
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name === 'node_modules') continue
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile()) hash.update(`${relative(root, path)}\0`).update(readFileSync(path)).update('\0')
    }
  }
  for (const folder of SOURCE_FOLDERS) if (existsSync(join(root, folder))) walk(join(root, folder))
  return hash.digest('hex')
}

const MARKER = 'bench-build.json'

/**
 * The build for the sources as they are now, from `cacheDir` when a build of the same sources is there
 * (its marker is written last, so a build cut short is never used), else made and stored there.
 * Builds of this checkout's older sources are removed.
 */
export function cachedBenchBuild(cacheDir: string, make: (outDir: string) => BenchBuild = buildBenchInto, key = sourceDigest()): BenchBuild & { reused: boolean } {
  const dir = join(cacheDir, `build-${key.slice(0, 24)}`)
  const marker = join(dir, MARKER)
  const readMarker = (path: string): { root?: string; key?: string } | undefined => {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as { root?: string; key?: string }
    } catch {
      return undefined
    }
  }
  const stored = readMarker(marker)
  if (stored?.key === key && stored.root === ROOT) return { ...buildPaths(join(dir, 'build'), 0), reused: true }
  mkdirSync(cacheDir, { recursive: true })
  const staging = mkdtempSync(join(cacheDir, 'staging-build-'))
  try {
    const build = make(join(staging, 'build'))
    writeFileSync(join(staging, MARKER), JSON.stringify({ root: ROOT, key, modules: build.modules }))
    rmSync(dir, { recursive: true, force: true })
    renameSync(staging, dir)
    for (const entry of readdirSync(cacheDir)) {
      if (!entry.startsWith('build-') || join(cacheDir, entry) === dir) continue
      if (readMarker(join(cacheDir, entry, MARKER))?.root === ROOT) rmSync(join(cacheDir, entry), { recursive: true, force: true })
    }
    return { ...buildPaths(join(dir, 'build'), build.modules), reused: false }
  } catch (err) {
    // Another bench that stored the same build meanwhile is as good as ours.
    if (readMarker(marker)?.key === key) return { ...buildPaths(join(dir, 'build'), 0), reused: true }
    throw err
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

let shared: (BenchBuild & { reused: boolean }) | undefined

/** The bench's cache folder: `WRISTPAY_BENCH_CACHE` (`npm run bench -- --cache`), else the default; undefined for "off". */
export function benchCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = env.WRISTPAY_BENCH_CACHE
  if (setting === 'off') return undefined
  return setting !== undefined && setting !== '' ? setting : defaultBenchCacheDir(env)
}

/** The build this process's children run, made (or found in the cache) on first use; without a cache, in a temporary folder removed when the process exits. */
export function benchBuild(): BenchBuild & { reused: boolean } {
  if (shared !== undefined) return shared
  const cacheDir = benchCacheDir()
  if (cacheDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-bench-build-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    shared = { ...buildBenchInto(join(dir, 'build')), reused: false }
  } else {
    shared = cachedBenchBuild(cacheDir)
  }
  return shared
}
