#!/usr/bin/env node
// wristpay-kiosk: see cli.ts, or run with --help.
import { main } from './cli.js'

process.exitCode = await main(process.argv.slice(2))
