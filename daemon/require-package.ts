// The CommonJS packages a kiosk loads at start (mqtt, fastify, pino,
// better-sqlite3) are loaded with require() rather than an ESM import. Node 20
// loads a CommonJS package that an ES module imports through its ESM loader:
// each file of the package and of its CommonJS dependencies (about 300 for
// these four) is scanned for its exports (cjs-module-lexer, WebAssembly) and
// gets an ES module record that is kept for the life of the process. Loaded
// with require(), they are plain CommonJS modules. Measured with the kiosk
// unit's V8 flags, importing the four from an ES module left 19.7 MB of
// anonymous memory resident and requiring them 14.5 MB (and four threads
// fewer). Types still come from `import type`.
// daemon/lazy-modules.test.ts checks that no module the daemon loads at start
// imports a CommonJS package.
import { createRequire } from 'node:module'

export const requirePackage = createRequire(import.meta.url)
