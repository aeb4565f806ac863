import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { KIOSK_NODE_FLAGS } from './kiosk-node-flags.js'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

t.test('the kiosk unit starts node with the flags the growth bench measures the till with', async (t) => {
  const unit = readFileSync(join(ROOT, 'systemd/wristpay-kiosk.service'), 'utf8')
  const execStart = unit.split('\n').find((line) => line.startsWith('ExecStart='))
  t.equal(execStart, `ExecStart=/usr/bin/node ${KIOSK_NODE_FLAGS.join(' ')} /opt/wristpay/dist/daemon/bin.js --config /etc/wristpay/kiosk.json`)
})
