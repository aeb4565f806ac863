// A simulated NTAG 424 DNA wristband with SUN mirroring enabled (AES mode, UID
// and read counter mirrored, empty MAC input), as NXP AN12196 describes it:
// every read increments SDMReadCtr and yields fresh encrypted PICC data and a
// fresh SDMMAC. It uses the same crypto as the gateway's verifier, which the
// note's own examples pin down (gateway/sun/ntag424.test.ts).
import { randomBytes } from 'node:crypto'
import { MAX_SDM_READ_COUNTER, encryptPiccData, sdmMac, type SunMessage } from '../device-protocol/ntag424/sun.js'

export interface SimulatedNtag424Options {
  /** 7-byte UID, hex. */
  uid: string
  /** K_SDMMetaRead, 16 bytes. */
  metaReadKey: Uint8Array
  /** K_SDMFileRead, 16 bytes. */
  fileReadKey: Uint8Array
  /** SDMReadCtr before the first read (a fresh tag: 0). */
  counter?: number
  /** The 5 random padding bytes of the PICC data; tests may fix them. */
  random?: () => Uint8Array
}

export interface SimulatedNtag424 {
  /** Upper-case hex. */
  readonly uid: string
  readonly type: 'ntag424'
  /** SDMReadCtr of the last read. */
  readonly counter: number
  /** A read by a reader: the counter goes up by one and the tag mirrors a new SUN message (upper-case hex). */
  read(): SunMessage
}

export function createSimulatedNtag424(options: SimulatedNtag424Options): SimulatedNtag424 {
  const uid = options.uid.toUpperCase()
  if (!/^[0-9A-F]{14}$/.test(uid)) throw new RangeError('an NTAG 424 DNA has a 7-byte UID')
  const uidBytes = Buffer.from(uid, 'hex')
  const random = options.random ?? (() => randomBytes(5))
  let counter = options.counter ?? 0
  return {
    uid,
    type: 'ntag424',
    get counter() {
      return counter
    },
    read() {
      // The real tag refuses SUN reads once the 3-byte counter is exhausted.
      if (counter >= MAX_SDM_READ_COUNTER) throw new RangeError('SDMReadCtr is exhausted')
      counter += 1
      return {
        piccData: encryptPiccData(options.metaReadKey, uidBytes, counter, random()).toString('hex').toUpperCase(),
        cmac: sdmMac(options.fileReadKey, uidBytes, counter).toString('hex').toUpperCase(),
      }
    },
  }
}
