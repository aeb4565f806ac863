// Test code only: a certificate authority and a gateway certificate it signs,
// made in the test (selfsigned), written as PEM files like an operator's.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import selfsigned from 'selfsigned'

export interface TestCertificates {
  /** The CA's certificate: what a kiosk trusts (caFile). */
  caFile: string
  /** The gateway's certificate and key, signed by the CA (mqtt.tls.certFile, keyFile). */
  certFile: string
  keyFile: string
  ca: string
  cert: string
  key: string
}

/**
 * A CA named `name` and a server certificate it signs for `dnsNames` and `ips`
 * (default localhost and 127.0.0.1), written to `dir` as `{name}-ca.pem`,
 * `{name}-cert.pem` and `{name}-key.pem` (0600).
 */
export async function makeTestCertificates(dir: string, name: string, hosts: { dnsNames?: string[]; ips?: string[] } = {}): Promise<TestCertificates> {
  const ca = await selfsigned.generate([{ name: 'commonName', value: `${name} test CA` }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  })
  const dnsNames = hosts.dnsNames ?? ['localhost']
  const ips = hosts.ips ?? ['127.0.0.1']
  const server = await selfsigned.generate([{ name: 'commonName', value: dnsNames[0] ?? ips[0] ?? 'gateway' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...dnsNames.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))] },
    ],
  })
  const files = { caFile: join(dir, `${name}-ca.pem`), certFile: join(dir, `${name}-cert.pem`), keyFile: join(dir, `${name}-key.pem`) }
  writeFileSync(files.caFile, ca.cert)
  writeFileSync(files.certFile, server.cert)
  writeFileSync(files.keyFile, server.private, { mode: 0o600 })
  return { ...files, ca: ca.cert, cert: server.cert, key: server.private }
}
