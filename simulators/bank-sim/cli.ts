// `wristpay-sim bank statement --pain FILE [--returns SHARE] [--seed N]
// [--return-days N] [--opening AMOUNT]`: the simulated bank executes a pain.001
// file and prints the CAMT.053 statement on stdout (a summary on stderr), so
// that `> camt.xml` gives a file to import.
import { readFile } from 'node:fs/promises'
import { centsFromDecimalString, decimalStringFromCents } from '../../device-protocol/money.js'
import { bankStatementFromPain, type StatementOptions } from './camt053.js'

export const BANK_USAGE = `  bank statement --pain FILE [--returns SHARE] [--seed N] [--return-days N] [--opening AMOUNT]
      The simulated bank: executes the SEPA credit transfers of the pain.001
      FILE and prints the account's CAMT.053 statement (camt.053.001.02) on
      stdout: one debit per transfer on the execution date and, SHARE (0 to 1,
      default 0) of them returned --return-days later (default 3) as credits
      with the original end-to-end id and a return reason (AC04 ...), chosen by
      --seed (default 1): the same file and seed give the same statement.
      --opening is the balance before the payouts (default their sum).
      Example: wristpay-sim bank statement --pain run.xml --returns 0.1 --seed 7 > camt.xml`

export class BankUsageError extends Error {
  override name = 'BankUsageError'
}

export interface BankStatementArgs extends StatementOptions {
  painPath: string
}

function numberArg(name: string, value: string | undefined, integer: boolean): number {
  if (value === undefined || value.trim() === '' || !/^[0-9.]+$/.test(value)) throw new BankUsageError(`${name} needs a number`)
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || (integer && !Number.isSafeInteger(parsed))) throw new BankUsageError(`${name} needs ${integer ? 'a whole number' : 'a number'}`)
  return parsed
}

export function parseBankStatementArgs(argv: readonly string[]): BankStatementArgs {
  let painPath: string | undefined
  const options: StatementOptions = {}
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]]
    switch (flag) {
      case '--pain':
        if (value === undefined || value === '') throw new BankUsageError('--pain needs a file')
        painPath = value
        break
      case '--returns':
        options.returnShare = numberArg('--returns', value, false)
        break
      case '--seed':
        options.seed = numberArg('--seed', value, true)
        break
      case '--return-days':
        options.returnDelayDays = numberArg('--return-days', value, true)
        break
      case '--opening': {
        const cents = value === undefined ? undefined : centsFromDecimalString(value, Number.MAX_SAFE_INTEGER)
        if (cents === undefined) throw new BankUsageError('--opening needs an amount like 1234.56')
        options.openingBalanceCents = cents
        break
      }
      default:
        throw new BankUsageError(`unknown option ${JSON.stringify(flag)}`)
    }
  }
  if (painPath === undefined) throw new BankUsageError('bank statement needs --pain FILE')
  return { painPath, ...options }
}

export interface BankCommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  readText: (path: string) => Promise<string>
}

const defaultIo: BankCommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readText: (path) => readFile(path, 'utf8'),
}

/** Runs `bank ...`; returns the exit code (2 for usage errors and refused files). */
export async function runBankCommand(argv: readonly string[], io: BankCommandIo = defaultIo): Promise<number> {
  const [sub, ...rest] = argv
  if (sub !== 'statement') {
    io.stderr(`usage:\n${BANK_USAGE}\n`)
    return 2
  }
  try {
    const { painPath, ...options } = parseBankStatementArgs(rest)
    const statement = bankStatementFromPain(await io.readText(painPath), options)
    io.stdout(statement.xml)
    const returned = statement.returned.reduce((sum, r) => sum + r.amountCents, 0)
    io.stderr(
      `statement for ${statement.account}: ${decimalStringFromCents(statement.debitedCents)} ${statement.currency} paid out, ` +
        `${statement.returned.length} returned (${decimalStringFromCents(returned)}), closing balance ${decimalStringFromCents(statement.closingBalanceCents)}\n`,
    )
    return 0
  } catch (err) {
    io.stderr(`wristpay-sim bank: ${(err as Error).message}\n`)
    return 2
  }
}
