// The unit files are checked by systemd itself where it is installed, and for
// the hardening and restart policy we promise in any case.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const units = ['wristpay-gateway.service', 'wristpay-kiosk.service'].map((name) =>
  fileURLToPath(new URL(name, import.meta.url)),
)

function directives(path: string): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim())
    if (match) map.set(match[1]!, [...(map.get(match[1]!) ?? []), match[2]!])
  }
  return map
}

for (const unit of units) {
  t.test(`${unit.split('/').pop()} restarts on failure and runs with least privilege`, async (t) => {
    const d = directives(unit)
    t.match(d.get('Restart')?.[0], /^(on-failure|always)$/)
    t.equal(d.get('NoNewPrivileges')?.[0], 'yes')
    t.equal(d.get('ProtectSystem')?.[0], 'strict')
    t.equal(d.get('ProtectHome')?.[0], 'yes')
    t.ok(d.get('StateDirectory')?.[0], 'has a state directory')
    t.equal(d.get('StateDirectoryMode')?.[0], '0700')
    t.ok(d.get('User')?.[0] && d.get('User')?.[0] !== 'root', 'does not run as root')
    t.equal(d.get('CapabilityBoundingSet')?.[0], '', 'no capabilities')
  })

  t.test(`${unit.split('/').pop()} waits for the daemon's READY=1 and restarts it when its watchdog pings stop`, async (t) => {
    const d = directives(unit)
    t.same(d.get('Type'), ['notify'])
    t.same(d.get('NotifyAccess'), ['main'], 'only the daemon itself may notify')
    t.same(d.get('WatchdogSec'), ['30'])
    // node must be the main process (no shell in between), or its notifications would be refused.
    t.match(d.get('ExecStart')?.[0], /^\/usr\/bin\/node /)
  })
}

const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p))
t.test('systemd-analyze verify accepts the units', { skip: analyze ? false : 'systemd-analyze is not installed' }, async (t) => {
  // verify exits 0 even for unknown keys or bad values; it only warns on stderr.
  const result = spawnSync(analyze!, ['verify', ...units], { encoding: 'utf8' })
  t.equal(result.status, 0)
  t.equal(result.stderr.trim(), '', 'no warnings')
})
