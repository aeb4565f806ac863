export { createKioskCommands, DEFAULT_COMMAND_TIMEOUT_MS, type KioskCommands, type KioskCommandsDeps, type KioskCommandResult, type SendKioskCommand } from './kiosk-commands.js'
