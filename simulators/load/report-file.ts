// Writes the bench report (report.ts) to a file: gathers what the page shows
// about the run besides its results (the command, the machine, when and how
// long each part took) and returns the file's absolute path to print.
import { writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { resolve } from 'node:path'
import { renderBenchReport } from './report.js'

/** Where `npm run bench` writes its report unless --report says otherwise: the current folder (git-ignored). */
export const DEFAULT_REPORT_FILE = 'bench-report.html'

export interface BenchReportRun {
  /** The bench's arguments as given (shown as the command). */
  argv: string[]
  /** Every option after parsing, defaults included. */
  options: Record<string, unknown>
  /** The preset the options start from (the full or the quick run's durations and sizes). */
  preset: unknown
  startedAt: Date
  /** Seconds each part of the run took, in order. */
  partSeconds: Record<string, number>
  /** CPU seconds each part used, the bench's own and its finished child processes': on a shared machine, where the time went. */
  partCpuSeconds?: Record<string, number>
  /** The load average when the run started: a busy machine explains slow figures. */
  loadAverageAtStart: number[]
}

/** Renders and writes the report; returns the absolute path written. */
export function writeBenchReport(path: string, results: Record<string, unknown>, run: BenchReportRun): string {
  const finishedAt = new Date()
  const round1 = (n: number) => Math.round(n * 10) / 10
  const settings: Record<string, unknown> = {
    command: ['npm run bench --', ...run.argv].join(' '),
    started: run.startedAt.toISOString(),
    'duration s': round1((finishedAt.getTime() - run.startedAt.getTime()) / 1000),
    ...Object.fromEntries(Object.entries(run.partSeconds).map(([part, seconds]) => [`part: ${part}, s`, round1(seconds)])),
    ...Object.fromEntries(Object.entries(run.partCpuSeconds ?? {}).map(([part, seconds]) => [`part: ${part}, CPU s`, round1(seconds)])),
    machine: `${availableParallelism()} × ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, ${process.platform}`,
    'load average at start (1, 5, 15 min)': run.loadAverageAtStart.map((n) => n.toFixed(2)).join(', '),
    'load average at the end (1, 5, 15 min)': loadavg().map((n) => n.toFixed(2)).join(', '),
    ...Object.fromEntries(Object.entries(run.options).map(([name, value]) => [`--${name}`, value])),
    preset: run.preset,
  }
  const absolute = resolve(path)
  writeFileSync(absolute, renderBenchReport({ results, settings }))
  return absolute
}
