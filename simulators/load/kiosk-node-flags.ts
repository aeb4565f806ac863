// The V8 flags the kiosk daemon runs with on a Pi (systemd/wristpay-kiosk.service
// ExecStart), so that the growth bench's till measures the memory of the daemon
// as installed. Measured with till-child.ts from the transpiled build, at start:
// - --max-semi-space-size=1: V8's young generation is two semi-spaces of up to
//   16 MB each, touched and kept resident once sales allocate; a kiosk books one
//   sale at a time, so small, more frequent scavenges cost nothing a guest
//   notices and save about 15-20 MB.
// - --optimize-for-size: V8 favours smaller heaps and code over peak speed
//   (a few MB more); the kiosk's work is I/O and native crypto, not hot loops.
// - --v8-pool-size=2: V8's background threads (concurrent marking and sweeping,
//   compiling off the main thread) are four by default, and glibc gives each
//   thread that allocates a malloc arena of its own that stays resident. The
//   kiosk's heap is about 20 MB: two threads do its background work. Measured
//   against the same build: 2 threads fewer, about 2 MB less at start (median
//   78.7 against 80.7 MB); after 10,000 sales the difference is within the
//   noise between runs (89.3 against 89.8 MB).
// - --lite-mode: no optimizing compiler, and type feedback allocated only for
//   functions that run often. A kiosk books one sale per tap, and its work per
//   sale is I/O, SQLite and native crypto: measured against the same build
//   (two alternating runs each of 10,000 sales), 64 MB at start and 70 MB after
//   the sales instead of 72 and 80, for 2.4 ms of CPU per sale instead of 1.9
//   on the development machine, which no guest at a till notices.
// MALLOC_ARENA_MAX=2, UV_THREADPOOL_SIZE and --heap-growing-percent=10 made no
// difference beyond the noise (about 2 MB between runs): left out.
export const KIOSK_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size', '--v8-pool-size=2', '--lite-mode']
