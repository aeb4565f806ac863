// Placeholder written by the daemon side so local-api.ts compiles: the web UI
// work replaces this file with the plugin that serves the touchscreen UI under /ui/.
import type { FastifyInstance } from 'fastify'

export async function webUiPlugin(_app: FastifyInstance): Promise<void> {}
