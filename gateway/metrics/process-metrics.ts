// The process's own metrics (CPU, memory, event loop lag, garbage collection,
// open file descriptors) from prom-client's collectDefaultMetrics.
//
// Why one set per process and not one per gateway: collectDefaultMetrics starts
// an event-loop-delay monitor and a garbage-collection observer that are never
// stopped. Tests build hundreds of gateways in one process; each would leave
// both running for good. The numbers describe the process, which all gateways
// in it share anyway, so they are collected once, in a registry of this module
// (never prom-client's global one), and the same metric objects are registered
// in every gateway's own registry as well.
import { collectDefaultMetrics, Registry } from 'prom-client'

let processRegistry: Registry | undefined

/** Registers the process metrics in `registry` (collecting them starts on the first call). */
export function registerProcessMetrics(registry: Registry): void {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  for (const { name } of processRegistry.getMetricsAsArray()) {
    const metric = processRegistry.getSingleMetric(name)
    if (metric !== undefined) registry.registerMetric(metric)
  }
}
