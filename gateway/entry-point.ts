// Whether a module is the script node was started with (`node dist/gateway/bin.js`,
// or through the npm bin link, a symlink: hence realpath on both sides), so a bin
// module runs its main only then and stays importable by tests.
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** `moduleUrl` is the caller's `import.meta.url`. */
export function isEntryPoint(moduleUrl: string, script: string | undefined = process.argv[1]): boolean {
  if (!script) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}
