// What a kiosk loads at start: every module reachable from daemon/bin.ts by
// static imports, read from the JavaScript the sources transpile to (as an
// installation runs them; imports of types only are gone there). Device
// adapters, their native packages, the ZVT protocol and jose must be reached
// only by `await import()` when a kiosk's config asks for them (app.ts's
// readerFromConfig and terminalFromConfig, pin-seal.ts), so that a kiosk's
// resident memory holds only what it uses. That each adapter still works when
// configured is what the adapters' own tests and app.test.ts check.
// CommonJS packages are loaded with require (daemon/require-package.ts), not
// imported: Node's ESM loader would keep an ES module record of every file of
// theirs.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))

/** Specifiers of the static imports and re-exports in a module's JavaScript (dynamic import() left out), and the packages it requires with requirePackage. */
function staticImports(file: string): { imports: string[]; required: string[] } {
  const js = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, isolatedModules: true },
    fileName: file,
  }).outputText
  const source = ts.createSourceFile(file, js, ts.ScriptTarget.ES2022)
  const specifiers: string[] = []
  const required: string[] = []
  for (const statement of source.statements) {
    if ((ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      specifiers.push(statement.moduleSpecifier.text)
    }
  }
  const findRequires = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'requirePackage' && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      required.push(node.arguments[0].text)
    }
    ts.forEachChild(node, findRequires)
  }
  findRequires(source)
  return { imports: specifiers, required }
}

/** Whether Node loads `specifier`, imported from the daemon, as CommonJS (its package's type and the file the import resolves to). */
function isCommonJs(specifier: string): boolean {
  // Resolved as an import resolves it (the "import" condition), from this folder's node_modules as the daemon's.
  const resolved = fileURLToPath(import.meta.resolve(specifier))
  if (resolved.endsWith('.cjs')) return true
  if (resolved.endsWith('.mjs')) return false
  let dir = dirname(resolved)
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir)
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string }).type !== 'module'
}

/**
 * The repository's modules (relative paths, .ts), the packages (by name) and the package specifiers
 * (with their subpaths) reached from `entry` by static imports, and the packages required with requirePackage.
 */
function loadedAtStart(entry: string): { modules: Set<string>; packages: Set<string>; specifiers: Set<string>; required: Set<string> } {
  const modules = new Set<string>()
  const packages = new Set<string>()
  const specifiers = new Set<string>()
  const required = new Set<string>()
  const pending = [join(ROOT, entry)]
  while (pending.length > 0) {
    const file = pending.pop()!
    const name = relative(ROOT, file)
    if (modules.has(name)) continue
    modules.add(name)
    const found = staticImports(file)
    for (const name of found.required) required.add(name)
    for (const specifier of found.imports) {
      if (specifier.startsWith('node:')) continue
      if (!specifier.startsWith('.')) {
        specifiers.add(specifier)
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!)
        continue
      }
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts')
      if (!existsSync(target)) throw new Error(`${name} imports ${specifier}, which is not a module here`)
      pending.push(target)
    }
  }
  return { modules, packages, specifiers, required }
}

t.test('the kiosk daemon loads no device adapter, no ZVT protocol and no jose at start', async (t) => {
  const { modules, packages, required } = loadedAtStart('daemon/bin.ts')
  // The walk itself works: the daemon's own parts are there.
  for (const expected of ['daemon/cli.ts', 'daemon/app.ts', 'daemon/config.ts', 'daemon/mqtt-link.ts', 'daemon/kiosk.ts', 'daemon/terminal/terminal-display.ts']) {
    t.ok(modules.has(expected), `${expected} is loaded at start`)
  }
  t.ok(required.has('mqtt') && required.has('better-sqlite3'), 'the packages every kiosk needs are loaded at start')
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

t.test('the kiosk daemon requires the CommonJS packages it loads at start and imports only ES modules', async (t) => {
  const { specifiers, required } = loadedAtStart('daemon/bin.ts')
  // The check itself tells the two apart.
  t.ok(isCommonJs('mqtt') && isCommonJs('fastify') && isCommonJs('pino') && isCommonJs('better-sqlite3'), 'the CommonJS packages are told as such')
  t.notOk(isCommonJs('typebox') || isCommonJs('uuid'), 'ES module packages are told as such')
  for (const name of ['mqtt', 'fastify', 'pino', 'better-sqlite3']) t.ok(required.has(name), `${name} is required`)
  for (const specifier of specifiers) t.notOk(isCommonJs(specifier), `${specifier} is imported and is an ES module`)
  // TypeBox: the JSON Schema validators, not typebox/compile, which loads typebox/value.
  t.notOk(specifiers.has('typebox/compile') || specifiers.has('typebox/value'), 'typebox/compile and typebox/value are not loaded')
  t.ok(specifiers.has('typebox/schema'), 'validators come from typebox/schema')
})

t.test('the growth bench\'s till loads no CommonJS package through an import either', async (t) => {
  // Its memory is measured as the daemon's: what it adds must not cost what the daemon avoids.
  const { specifiers, required } = loadedAtStart('simulators/load/till-child.ts')
  t.ok(required.has('pino'), 'pino is required')
  for (const specifier of specifiers) t.notOk(isCommonJs(specifier), `${specifier} is imported and is an ES module`)
})
