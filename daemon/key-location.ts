// Which data folder `wristpay-kiosk --print-public-key` takes its key from.
//
// The key printed for enrollment must be the one the service signs with. The
// unit (systemd/wristpay-kiosk.service) keeps it in its state folder
// /var/lib/wristpay-kiosk and runs as user wristpay; an operator enrolling a
// kiosk runs the command in a shell, without the unit's environment. So when no
// data folder is set (flag, WRISTPAY_DATA_DIR or the config file) and the
// command runs as root or as the service's user, it takes the service's folder;
// anyone else gets the development default and is told plainly that it is not
// the service's.

/** StateDirectory= of systemd/wristpay-kiosk.service. */
export const SERVICE_DATA_DIR = '/var/lib/wristpay-kiosk'
/** User= of systemd/wristpay-kiosk.service. */
export const SERVICE_USER = 'wristpay'

export interface KeyLocationInput {
  /** The data folder of the loaded config. */
  configuredDataDir: string
  /** Whether it was set (flag, environment, config file) rather than the default. */
  explicit: boolean
  uid: number
  userName: string | undefined
  serviceDataDir: string
  serviceUser: string
}

export type KeyLocation =
  | { dataDir: string; source: 'configured' }
  /** Root or the service's user without a folder set: the service's. */
  | { dataDir: string; source: 'service' }
  /** Somebody else without a folder set: the development default, which the service does not use. */
  | { dataDir: string; source: 'default' }

export function keyLocation(input: KeyLocationInput): KeyLocation {
  if (input.explicit) return { dataDir: input.configuredDataDir, source: 'configured' }
  if (input.uid === 0 || input.userName === input.serviceUser) return { dataDir: input.serviceDataDir, source: 'service' }
  return { dataDir: input.configuredDataDir, source: 'default' }
}

/** What --print-public-key says on stderr beside the key: which file, and whether the service uses it. */
export function keyLocationNotice(options: { kioskId: string; location: KeyLocation; keyFile: string; created: boolean; serviceDataDir: string }): string {
  const { kioskId, location, keyFile, created, serviceDataDir } = options
  const what = `kiosk ${kioskId}: public key of ${keyFile} (${created ? 'created now' : 'existing key'})`
  if (location.source === 'service') return `${what}, in the data folder of the wristpay-kiosk service.\n`
  if (location.dataDir === serviceDataDir) return `${what}.\n`
  const how = `to print the service's key, run as root or as user wristpay, or add --data-dir ${serviceDataDir} (or set WRISTPAY_DATA_DIR)`
  if (location.source === 'configured') return `${what}. The wristpay-kiosk service uses ${serviceDataDir} unless its config says otherwise: ${how}.\n`
  return `${what}.\nWARNING: this is NOT the folder the wristpay-kiosk service signs with (${serviceDataDir}); enrolling this key there makes every sale refused. ${how[0]!.toUpperCase()}${how.slice(1)}.\n`
}
