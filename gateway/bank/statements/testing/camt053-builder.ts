// Small CAMT.053 documents for tests: one statement on the festival's account
// with the entries given as XML fragments.
export const OWN_IBAN = 'DE89370400440532013000'

export function camt053(entries: string[], options: { namespace?: string; prolog?: string } = {}): string {
  const namespace = options.namespace ?? 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'
  return `<?xml version="1.0" encoding="UTF-8"?>
${options.prolog ?? ''}<Document xmlns="${namespace}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>TEST</MsgId><CreDtTm>2026-07-06T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>TEST</Id>
      <Acct><Id><IBAN>${OWN_IBAN}</IBAN></Id></Acct>
      ${entries.join('\n      ')}
    </Stmt>
  </BkToCstmrStmt>
</Document>
`
}

/** One booked credit entry with one transaction detail. */
export function creditEntry(fields: { amount?: string; currency?: string; indicator?: string; date?: string; name?: string; iban?: string; remittance?: string; extra?: string } = {}): string {
  return `<Ntry>
        <Amt Ccy="${fields.currency ?? 'EUR'}">${fields.amount ?? '10.00'}</Amt>
        <CdtDbtInd>${fields.indicator ?? 'CRDT'}</CdtDbtInd>
        <Sts>BOOK</Sts>
        ${fields.date === '' ? '' : `<BookgDt><Dt>${fields.date ?? '2026-07-05'}</Dt></BookgDt>`}
        <NtryDtls><TxDtls>
          <RltdPties>
            <Dbtr><Nm>${fields.name ?? 'Anna Beispiel'}</Nm></Dbtr>
            <DbtrAcct><Id><IBAN>${fields.iban ?? 'DE79100100100012345678'}</IBAN></Id></DbtrAcct>
          </RltdPties>
          <RmtInf><Ustrd>${fields.remittance ?? 'WP-TOPUP-K7Q2M4'}</Ustrd></RmtInf>
          ${fields.extra ?? ''}
        </TxDtls></NtryDtls>
      </Ntry>`
}
