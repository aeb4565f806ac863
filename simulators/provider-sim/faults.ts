// Injected failures for the next requests to a path: a 500, or a timeout
// (the connection hangs without an answer until the client gives up, and is
// then closed). `when` says whether the request is carried out anyway:
// `after` (the default for timeouts) carries it out and loses the answer —
// a refund the provider accepted while the client timed out; `before` fails
// without doing anything (the default for 500s). A timeout with `when:
// 'before'` carries the request out when the hang ends, the answer lost too.

export type FaultKind = 'timeout' | 'error'

export interface FaultRule {
  kind: FaultKind
  /** Exact path (trailing slash ignored), or a pattern; with `method`, only that method. */
  path: string | RegExp
  method?: string
  count: number
  when: 'before' | 'after'
  /** For errors: the status (500 unless told). */
  statusCode: number
  /** For timeouts: how long the connection hangs before it is closed. */
  hangMs: number
}

export interface FaultOptions {
  count?: number
  method?: string
  when?: 'before' | 'after'
  statusCode?: number
  hangMs?: number
}

export function normalisePath(path: string): string {
  const bare = path.split('?')[0] ?? ''
  return bare.length > 1 && bare.endsWith('/') ? bare.slice(0, -1) : bare
}

export function createFaults(defaultHangMs: number) {
  const rules: FaultRule[] = []
  const hangs = new Set<() => void>()
  const done: Array<Promise<void>> = []

  return {
    add(kind: FaultKind, path: string | RegExp, options: FaultOptions = {}): void {
      rules.push({
        kind,
        path: typeof path === 'string' ? normalisePath(path) : path,
        method: options.method?.toUpperCase(),
        count: options.count ?? 1,
        when: options.when ?? (kind === 'timeout' ? 'after' : 'before'),
        statusCode: options.statusCode ?? 500,
        hangMs: options.hangMs ?? defaultHangMs,
      })
    },
    /** The rule for this request, counted as used; undefined when none applies. */
    take(method: string, rawPath: string): FaultRule | undefined {
      const path = normalisePath(rawPath)
      const rule = rules.find(
        (r) => r.count > 0 && (r.method === undefined || r.method === method) && (typeof r.path === 'string' ? r.path === path : r.path.test(path)),
      )
      if (!rule) return undefined
      rule.count -= 1
      if (rule.count === 0) rules.splice(rules.indexOf(rule), 1)
      return { ...rule }
    },
    /** Waits hangMs, or less if the simulator closes. */
    hang(hangMs: number): Promise<void> {
      let release!: () => void
      const promise = new Promise<void>((resolve) => {
        const timer = setTimeout(() => release(), hangMs)
        release = () => {
          clearTimeout(timer)
          hangs.delete(release)
          resolve()
        }
        hangs.add(release)
      })
      return promise
    },
    /** Remembers work that runs after a hang, so tests can wait for it. */
    track(work: Promise<void>): void {
      done.push(work)
    },
    /** Resolves when every hung request so far has ended (and been carried out, if it was to be). */
    async settled(): Promise<void> {
      await Promise.allSettled([...done])
    },
    releaseAll(): void {
      for (const release of [...hangs]) release()
    },
    clear(): void {
      rules.length = 0
    },
    pending: (): FaultRule[] => rules.map((r) => ({ ...r })),
  }
}

export type Faults = ReturnType<typeof createFaults>
