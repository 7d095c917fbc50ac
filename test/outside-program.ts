/**
 * Tests that need a program the project cannot install itself (Debian's Chromium for the browser
 * test), and Python's static file server for the web export. Where it is missing, such a test is skipped with a line saying which program and how to
 * get it, so that `npm ci && npm test` passes on a machine with only Node, npm, g++, make and
 * python3; where CI is set (.ci/run installs the program), a missing program fails the test, so
 * CI always runs it for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The `skip` option of a test needing `file`: false (run it) when present or under CI, else the reason. */
export function skipUnlessInstalled(file: string, what: string, install: string): string | false {
  if (existsSync(file) || isCi()) return false;
  return `${what} is not installed (${file}): ${install}; CI=true makes its absence a failure`;
}

/** Throws when `file` is missing (under CI, where skipUnlessInstalled does not skip). */
export function requireInstalled(file: string, what: string, install: string): void {
  if (!existsSync(file)) throw new Error(`${what} is not installed (${file}): ${install}`);
}

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * Python's http.server on an ephemeral port of 127.0.0.1 serving `dir`: a plain static file server, for the
 * web export (test/e2e-browser.test.ts, bench/web.ts). `isolated` adds the two headers that make a page
 * cross-origin isolated (COOP same-origin, COEP require-corp), as a host configured for it sends them.
 * Kill the child when done.
 */
export async function pythonStaticServer(dir: string, opts: { isolated?: boolean } = {}): Promise<{ child: ChildProcess; url: string }> {
  const args = opts.isolated
    ? ['-u', '-c', ISOLATED_SERVER, dir]
    : ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir];
  const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`python3 -m http.server did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    });
    child.on('error', reject);
  });
  child.stderr!.resume(); // its request log
  return { child, url };
}

/** http.server's handler with the cross-origin isolation headers on every answer; argv[1] is the folder. */
const ISOLATED_SERVER = `
import functools, http.server, sys
class Isolated(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header('Cross-Origin-Opener-Policy', 'same-origin')
        self.send_header('Cross-Origin-Embedder-Policy', 'require-corp')
        super().end_headers()
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Isolated, directory=sys.argv[1]))
print('Serving HTTP on 127.0.0.1 port %d' % server.server_address[1], flush=True)
server.serve_forever()
`;

/** Where Debian's chromium package puts the browser; override with CHROMIUM_PATH. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Headless flags for this machine: no sandbox (root), no GPU, and no background connections (the network is closed). */
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

/** How to get it. */
export const CHROMIUM_INSTALL = 'apt-get install chromium (Debian), or set CHROMIUM_PATH to a Chromium or Chrome';
