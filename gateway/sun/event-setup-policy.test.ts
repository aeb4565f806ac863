// The tag policy and SUN keys of the event set-up: validated as a whole, and
// an error never quotes a key.
import t from 'tap'
import { parseEventSetup, type EventSetup } from '../event-setup.js'
import { testSetup } from '../ledger/testing/test-helpers.js'

const META = '0f1e2d3c4b5a69788796a5b4c3d2e1f0'
const FILE = '00112233445566778899AABBCCDDEEFF'
const ZERO = '0'.repeat(32)
const base = testSetup()

function withPolicy(policy: unknown, wristbands: unknown[] = base.wristbands): unknown {
  return { ...base, tagPolicy: policy, wristbands }
}

t.test('a valid policy passes, with event-wide or per-wristband file keys', async (t) => {
  const strict = withPolicy({ acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META, fileReadKey: FILE } })
  t.same((parseEventSetup(strict) as EventSetup).tagPolicy, { acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META, fileReadKey: FILE } })
  const perTag = withPolicy({ acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META } }, base.wristbands.map((w, i) => ({ ...w, sunFileReadKey: `${i + 1}`.repeat(32) })))
  t.ok(parseEventSetup(perTag))
  t.ok(parseEventSetup(withPolicy({ acceptedTypes: ['ntag215', 'mifare-classic'], requireSun: false })), 'a policy of types only')
  t.notOk(parseEventSetup(base).tagPolicy, 'no policy: none')
})

t.test('contradictions and weak keys are refused with a clear message that never quotes a key', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown type', withPolicy({ acceptedTypes: ['floppy'], requireSun: false }), /acceptedTypes\/0 'floppy' is not a known tag type/],
    ['duplicate type', withPolicy({ acceptedTypes: ['ntag215', 'ntag215'], requireSun: false }), /listed twice/],
    ['empty list', withPolicy({ acceptedTypes: [], requireSun: false }), /acceptedTypes/],
    ['requireSun without ntag424', withPolicy({ acceptedTypes: ['ntag215'], requireSun: true, sun: { metaReadKey: META, fileReadKey: FILE } }), /requireSun needs 'ntag424'/],
    ['requireSun without keys', withPolicy({ acceptedTypes: ['ntag424'], requireSun: true }), /requireSun needs sun keys/],
    ['requireSun, a wristband without any file key', withPolicy({ acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META } }), /wristbands\/0 has no sunFileReadKey/],
    ['factory meta key', withPolicy({ acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: ZERO, fileReadKey: FILE } }), /metaReadKey is the factory default/],
    ['factory file key', withPolicy({ acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META, fileReadKey: ZERO } }), /fileReadKey is the factory default/],
    ['factory per-wristband key', withPolicy({ acceptedTypes: ['ntag424'], requireSun: false, sun: { metaReadKey: META } }, [{ ...base.wristbands[0]!, sunFileReadKey: ZERO }]), /wristbands\/0 sunFileReadKey is the factory default/],
    ['per-wristband key without a meta key', withPolicy({ acceptedTypes: ['ntag424'], requireSun: false }, [{ ...base.wristbands[0]!, sunFileReadKey: FILE }]), /no metaReadKey/],
    ['per-wristband key without any policy', { ...base, wristbands: [{ ...base.wristbands[0]!, sunFileReadKey: FILE }] }, /no metaReadKey/],
    ['key not hex', withPolicy({ acceptedTypes: ['ntag424'], requireSun: false, sun: { metaReadKey: 'zz'.repeat(16) } }), /metaReadKey/],
    ['key too short', withPolicy({ acceptedTypes: ['ntag424'], requireSun: false, sun: { metaReadKey: META.slice(2) } }), /metaReadKey/],
    ['unknown field', withPolicy({ acceptedTypes: ['ntag424'], requireSun: false, keys: [] }), /tagPolicy/],
  ]
  for (const [name, value, pattern] of cases) {
    let message = ''
    t.throws(() => {
      try {
        parseEventSetup(value)
      } catch (err) {
        message = (err as Error).message
        throw err
      }
    }, { name: 'EventSetupError', message: pattern }, name)
    for (const key of [META, FILE, META.slice(2), 'zz'.repeat(16)]) t.notMatch(message.toLowerCase(), key.toLowerCase(), `${name}: no key in the message`)
  }
})
