import type { CsvStatementOptions } from '../csv.js'

/** The column mapping of testing/statement.csv, a German bank's export with decimal commas. */
export const GERMAN_MAPPING: CsvStatementOptions = {
  columns: {
    date: 'Buchungstag',
    amount: 'Betrag',
    currency: 'Währung',
    payer: 'Auftraggeber/Empfänger',
    iban: 'IBAN',
    reference: 'Verwendungszweck',
    endToEndId: 'Ende-zu-Ende-Referenz',
    returnReason: 'Rückgabegrund',
  },
  decimalComma: true,
  dateFormat: 'DD.MM.YYYY',
}
