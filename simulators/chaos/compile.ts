// The chaos run starts the gateway and the kiosks again and again. Through
// ts-node every start transpiles a few hundred modules again (half a minute
// and more on a busy machine); so the run transpiles the sources once, into a
// temp folder, and starts its children from plain JavaScript, as a built
// installation would run (dist/). Transpiled only, as ts-node is configured
// here (transpileOnly): type errors are the typecheck's job.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))
/** The source folders the gateway and the kiosk daemon (and the chaos kiosk with the harness it uses) are made of. */
const FOLDERS = ['device-protocol', 'daemon', 'gateway', 'portal-api', 'simulators/chaos', 'simulators/e2e']

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  // The sources already write ESM imports with .js endings: kept as they are.
  module: ts.ModuleKind.ESNext,
  esModuleInterop: true,
  isolatedModules: true,
  sourceMap: false,
}

function copyTree(from: string, to: string): number {
  let count = 0
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') count += copyTree(source, join(to, entry.name))
    } else if (entry.name.endsWith('.test.ts')) {
      continue
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const output = ts.transpileModule(readFileSync(source, 'utf8'), { compilerOptions: COMPILER_OPTIONS, fileName: source })
      writeFileSync(join(to, entry.name.replace(/\.ts$/, '.js')), output.outputText)
      count += 1
    } else {
      // Web pages, fixtures, vendored JSON: read at run time next to their modules.
      copyFileSync(source, join(to, entry.name))
    }
  }
  return count
}

/** Transpiles the sources into `outDir` (with the repository's node_modules linked in); returns how many modules. */
export function compileForChaos(outDir: string): number {
  mkdirSync(outDir, { recursive: true })
  let count = 0
  for (const folder of FOLDERS) count += copyTree(join(ROOT, folder), join(outDir, folder))
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ name: 'wristpay-chaos-build', private: true, type: 'module' }))
  symlinkSync(join(ROOT, 'node_modules'), join(outDir, 'node_modules'), 'dir')
  return count
}
