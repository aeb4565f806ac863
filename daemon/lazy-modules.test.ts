// What a kiosk loads at start: every module reachable from daemon/bin.ts by
// static imports, read from the JavaScript the sources transpile to (as an
// installation runs them; imports of types only are gone there). Device
// adapters, their native packages, the ZVT protocol and jose must be reached
// only by `await import()` when a kiosk's config asks for them (app.ts's
// readerFromConfig and terminalFromConfig, pin-seal.ts), so that a kiosk's
// resident memory holds only what it uses. That each adapter still works when
// configured is what the adapters' own tests and app.test.ts check.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))

/** Specifiers of the static imports and re-exports in a module's JavaScript (dynamic import() left out). */
function staticImports(file: string): string[] {
  const js = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true },
    fileName: file,
  }).outputText
  const source = ts.createSourceFile(file, js, ts.ScriptTarget.ES2022)
  const specifiers: string[] = []
  for (const statement of source.statements) {
    if ((ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      specifiers.push(statement.moduleSpecifier.text)
    }
  }
  return specifiers
}

/** The repository's modules (relative paths, .ts) and the packages (by name) reached from `entry` by static imports. */
function loadedAtStart(entry: string): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>()
  const packages = new Set<string>()
  const pending = [join(ROOT, entry)]
  while (pending.length > 0) {
    const file = pending.pop()!
    const name = relative(ROOT, file)
    if (modules.has(name)) continue
    modules.add(name)
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('node:')) continue
      if (!specifier.startsWith('.')) {
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!)
        continue
      }
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts')
      if (!existsSync(target)) throw new Error(`${name} imports ${specifier}, which is not a module here`)
      pending.push(target)
    }
  }
  return { modules, packages }
}

t.test('the kiosk daemon loads no device adapter, no ZVT protocol and no jose at start', async (t) => {
  const { modules, packages } = loadedAtStart('daemon/bin.ts')
  // The walk itself works: the daemon's own parts are there.
  for (const expected of ['daemon/cli.ts', 'daemon/app.ts', 'daemon/config.ts', 'daemon/mqtt-link.ts', 'daemon/kiosk.ts', 'daemon/terminal/terminal-display.ts']) {
    t.ok(modules.has(expected), `${expected} is loaded at start`)
  }
  t.ok(packages.has('mqtt') && packages.has('better-sqlite3'), 'the packages every kiosk needs are loaded at start')
  for (const adapter of [
    'daemon/reader/memory-reader.ts',
    'daemon/reader/serial-reader.ts',
    'daemon/reader/pcsc-reader.ts',
    'daemon/reader/ble-reader.ts',
    'daemon/reader/framed-link.ts',
    'daemon/terminal/zvt-terminal.ts',
    'device-protocol/zvt/index.ts',
    'device-protocol/zvt/transport.ts',
    'device-protocol/zvt/messages.ts',
  ]) {
    t.notOk(modules.has(adapter), `${adapter} is loaded only when used`)
  }
  for (const name of ['jose', 'serialport', '@serialport/stream', 'nfc-pcsc', '@abandonware/noble']) {
    t.notOk(packages.has(name), `${name} is loaded only when used`)
  }
})
