// ARCHITECTURE.md's folder rules ("Folders and what each may import"), read
// from the code: every import of every .ts/.js file in the repository's
// folders is resolved to a folder and checked. The device simulators must stay
// simulators (they speak a protocol, they do not wire the system together), the
// daemon and the gateway share only device-protocol, and nothing ships code
// that reaches into the demo or the end-to-end harness.
import { readdirSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = posix.dirname(fileURLToPath(import.meta.url))

/** The folders of the folder table; simulators/ is split into its three parts. */
type Area = 'device-protocol' | 'daemon' | 'gateway' | 'portal-api' | 'device-simulators' | 'demo' | 'e2e' | 'systemd'
const TOP_FOLDERS = ['device-protocol', 'daemon', 'gateway', 'portal-api', 'simulators', 'systemd'] as const

/** What each folder's own code may import besides itself. */
const MAY_IMPORT: Record<Area, readonly Area[] | 'anything'> = {
  'device-protocol': [],
  daemon: ['device-protocol'],
  gateway: ['device-protocol', 'portal-api'],
  'portal-api': ['device-protocol'],
  'device-simulators': ['device-protocol'],
  demo: 'anything',
  e2e: 'anything',
  systemd: [],
}
/** Tests (and their testing/ helpers) may also drive the simulators, the demo and the harness; device-protocol's tests too import nothing of ours. */
const TESTS_MAY_ALSO_IMPORT: readonly Area[] = ['device-simulators', 'demo', 'e2e']
/** The command line `wristpay-sim` runs the demo and the bench as subcommands. */
const ENTRY_POINTS: Record<string, readonly Area[]> = { 'simulators/bin.ts': ['demo'] }

/** `path` is relative to the repository, with forward slashes; undefined: not in any folder of the table. */
function areaOf(path: string): Area | undefined {
  const [top, second] = path.split('/')
  // simulators/chaos/ runs the real gateway and kiosk processes against each other, as the end-to-end tests do.
  if (top === 'simulators' && second === 'chaos') return 'e2e'
  // simulators/sim/ runs the real kiosk core, ingest and ledger together in one process on a simulated clock.
  if (top === 'simulators' && second === 'sim') return 'e2e'
  // simulators/fuzz/ feeds hostile input into the real codecs, gateway, ledger and importers, as the end-to-end tests do.
  if (top === 'simulators' && second === 'fuzz') return 'e2e'
  // simulators/load/ is the benchmark's load generator: it drives the whole system as the demo's bench does;
  // simulators/cluster/ runs the demo's fleet against gateways on PostgreSQL and Mosquitto.
  if (top === 'simulators') return second === 'demo' || second === 'load' || second === 'cluster' ? 'demo' : second === 'e2e' ? 'e2e' : 'device-simulators'
  return (TOP_FOLDERS as readonly string[]).includes(top ?? '') ? (top as Area) : undefined
}

function isTestCode(path: string): boolean {
  return /\.test\.[cm]?[jt]s$/.test(path) || path.split('/').includes('testing')
}

/**
 * Why `from` may not import `target` (both relative to the repository), or
 * undefined when it may. Imports of packages are not ours and not checked.
 */
function importRefusal(from: string, target: string): string | undefined {
  const fromArea = areaOf(from)
  const targetArea = areaOf(target)
  if (fromArea === undefined) return undefined
  if (targetArea === undefined) return `${from} imports ${target}, outside the repository's folders`
  if (targetArea === fromArea) return undefined
  const allowed = MAY_IMPORT[fromArea]
  if (allowed === 'anything' || allowed.includes(targetArea)) return undefined
  if (isTestCode(from) && fromArea !== 'device-protocol' && TESTS_MAY_ALSO_IMPORT.includes(targetArea)) return undefined
  if (ENTRY_POINTS[from]?.includes(targetArea)) return undefined
  const may = allowed.length === 0 ? 'nothing of ours' : allowed.join(', ')
  return `${from} (${fromArea}) imports ${target} (${targetArea}); ${fromArea} may import ${may}`
}

function sourceFiles(dir: string): string[] {
  const found: string[] = []
  for (const entry of readdirSync(posix.join(ROOT, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...sourceFiles(path))
    } else if (/\.[cm]?[jt]s$/.test(entry.name)) {
      found.push(path)
    }
  }
  return found
}

/** Every relative import (static, dynamic, type-only, re-export, require) of every file, resolved. */
function repositoryImports(): { from: string; target: string }[] {
  const imports: { from: string; target: string }[] = []
  for (const file of TOP_FOLDERS.flatMap((folder) => sourceFiles(folder))) {
    const { importedFiles } = ts.preProcessFile(readFileSync(posix.join(ROOT, file), 'utf8'), true, true)
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('./') && !fileName.startsWith('../')) continue
      imports.push({ from: file, target: posix.normalize(posix.join(posix.dirname(file), fileName)) })
    }
  }
  return imports
}

t.test('the rules, case by case', async (t) => {
  const cases: [from: string, target: string, allowed: boolean][] = [
    ['device-protocol/envelope.ts', 'device-protocol/canonical.js', true],
    ['device-protocol/envelope.ts', 'gateway/app.js', false],
    ['device-protocol/envelope.test.ts', 'simulators/reader-firmware.js', false],
    ['daemon/kiosk.ts', 'device-protocol/index.js', true],
    ['daemon/kiosk.ts', 'gateway/ledger/index.js', false],
    ['daemon/kiosk.ts', 'portal-api/index.js', false],
    ['daemon/kiosk.ts', 'simulators/reader-firmware.js', false],
    ['daemon/reader/serial-reader.test.ts', 'simulators/reader-firmware.js', true],
    ['daemon/app.test.ts', 'gateway/app.js', false],
    ['gateway/app.ts', 'portal-api/index.js', true],
    ['gateway/app.ts', 'daemon/outbox.js', false],
    ['gateway/app.test.ts', 'daemon/testing/wait.js', false],
    ['gateway/app.ts', 'simulators/stripe-sim/index.js', false],
    ['gateway/payments/testing/harness.ts', 'simulators/stripe-sim/index.js', true],
    ['portal-api/plugin.ts', 'gateway/apis.js', false],
    ['portal-api/plugin.ts', 'daemon/app.js', false],
    ['simulators/reader-firmware.ts', 'device-protocol/index.js', true],
    ['simulators/reader-firmware.ts', 'simulators/mock-serial-device.js', true],
    ['simulators/stripe-sim/server.ts', 'gateway/payments/stripe-client.js', false],
    ['simulators/zvt-terminal.ts', 'daemon/terminal/zvt.js', false],
    ['simulators/sumup-sim.ts', 'simulators/demo/payment-sims.js', false],
    ['simulators/sumup-sim.test.ts', 'simulators/e2e/headless-browser.js', true],
    ['simulators/ble-peripheral.test.ts', 'daemon/testing/wait.js', false],
    ['simulators/bin.ts', 'simulators/demo/demo.js', true],
    ['simulators/bin.ts', 'gateway/app.js', false],
    ['simulators/demo/demo.ts', 'gateway/app.js', true],
    ['simulators/demo/demo.ts', 'simulators/e2e/kiosk-harness.js', true],
    ['simulators/load/generator.ts', 'simulators/demo/kiosk-fleet.js', true],
    ['simulators/bin.ts', 'simulators/load/cli.js', true],
    ['gateway/app.ts', 'simulators/load/generator.js', false],
    ['simulators/e2e/kiosk-harness.ts', 'daemon/config.js', true],
    ['simulators/fuzz/targets/http-routes.ts', 'gateway/app.js', true],
    ['gateway/app.ts', 'simulators/fuzz/harness.js', false],
    ['simulators/chaos/chaos-run.ts', 'gateway/audit/audit.js', true],
    ['daemon/outbox.ts', 'simulators/chaos/fault-proxy.js', false],
    ['simulators/sim/simulation.ts', 'gateway/ingest.js', true],
    ['gateway/ingest.ts', 'simulators/sim/scheduler.js', false],
    ['gateway/app.ts', 'simulators/e2e/kiosk-harness.js', false],
    ['daemon/app.ts', 'simulators/demo/demo-event.js', false],
    ['gateway/bin.ts', 'package.json', false],
  ]
  for (const [from, target, allowed] of cases) {
    const refusal = importRefusal(from, target)
    if (allowed) t.equal(refusal, undefined, `${from} may import ${target}`)
    else t.type(refusal, 'string', `${from} may not import ${target}`)
  }
  t.match(importRefusal('daemon/kiosk.ts', 'gateway/ledger/index.js'), /daemon may import device-protocol$/, 'the refusal says what is allowed')
  t.match(importRefusal('device-protocol/x.ts', 'daemon/app.js'), /may import nothing of ours/)
})

t.test('every import in the repository keeps the folder rules', async (t) => {
  const imports = repositoryImports()
  // The scan saw the code (not an empty or wrong folder): every area imports something.
  for (const area of ['daemon', 'gateway', 'portal-api', 'device-simulators', 'demo', 'e2e'] as const) {
    t.ok(imports.some((i) => areaOf(i.from) === area), `imports of ${area} were read`)
  }
  t.ok(imports.some((i) => i.from === 'simulators/bin.ts' && areaOf(i.target) === 'demo'), 'dynamic imports are read too')
  t.same(imports.map((i) => importRefusal(i.from, i.target)).filter((r) => r !== undefined), [], 'no import breaks a folder rule')
})

/**
 * Inside the gateway: the ledger's core decides without I/O, and the registry
 * stands apart from the ledger's implementation (it may use the ledger's
 * interfaces and types, which it implements or fills, never the ledger itself
 * or a store). Test code is exempt.
 */
const LEDGER_CORE = ['gateway/ledger/core.ts', 'gateway/ledger/rules.ts', 'gateway/ledger/facts.ts', 'gateway/ledger/records.ts']
const REGISTRY_MAY_USE_OF_LEDGER = ['gateway/ledger/types', 'gateway/ledger/rules', 'gateway/ledger/store', 'gateway/ledger/core']

function innerRefusal(from: string, target: string): string | undefined {
  if (isTestCode(from)) return undefined
  const module = target.replace(/\.[cm]?[jt]s$/, '')
  if (from.startsWith('gateway/registry/') && module.startsWith('gateway/ledger/') && !REGISTRY_MAY_USE_OF_LEDGER.includes(module))
    return `${from} imports ${target}: the registry may use only the ledger's interfaces and types (${REGISTRY_MAY_USE_OF_LEDGER.join(', ')})`
  if (LEDGER_CORE.includes(from) && (module.startsWith('gateway/registry/') || /(sqlite|memory)-store$|\/ledger\/ledger$|\/db$|migrations$/.test(module)))
    return `${from} imports ${target}: the ledger's core reads through interfaces, never a store, a database or the registry`
  return undefined
}

t.test('the ledger core and the registry keep apart', async (t) => {
  t.type(innerRefusal('gateway/registry/registry.ts', 'gateway/ledger/ledger.js'), 'string', 'the registry may not use the ledger')
  t.type(innerRefusal('gateway/registry/registry.ts', 'gateway/ledger/sqlite-store.js'), 'string', 'nor a store')
  t.equal(innerRefusal('gateway/registry/registry.ts', 'gateway/ledger/store.js'), undefined, 'it implements the interfaces')
  t.type(innerRefusal('gateway/ledger/core.ts', 'gateway/ledger/sqlite-store.js'), 'string', 'the core reads no store')
  t.type(innerRefusal('gateway/ledger/core.ts', 'gateway/registry/registry.js'), 'string', 'nor the registry')
  t.equal(innerRefusal('gateway/ledger/ledger.ts', 'gateway/registry/registry.js'), undefined, 'the ledger puts them together')
  const imports = repositoryImports()
  t.ok(imports.some((i) => i.from.startsWith('gateway/registry/') && i.target.startsWith('gateway/ledger/')), 'the registry imports were read')
  t.same(imports.map((i) => innerRefusal(i.from, i.target)).filter((r) => r !== undefined), [], 'no import crosses them')
})
