import { loadUwsBuild } from '../../src/server/uws/uws-build.ts';
import { CHROMIUM_PATH, hasChromium } from './browser.ts';
import { hasNatsServer, NATS_SERVER_PATH } from './nats-server.ts';

/** One line for each part of the matrix that cannot run here, and why. */
export default function setup(): void {
  if (!process.env['DATABASE_URL']) {
    console.info(
      'skipped: the PostgreSQL runs of the suites (DATABASE_URL is not set); PGlite runs them',
    );
  }
  if (!hasChromium()) {
    console.info(
      `skipped: the inspector's browser tests (no Chromium at ${CHROMIUM_PATH}); ` +
        'run `apt-get install -y chromium` (or set CHROMIUM_PATH) to enable them',
    );
  }
  if (!hasNatsServer()) {
    console.info(
      `skipped: the NATS bus, follower and cluster tests (no nats-server at ${NATS_SERVER_PATH}); ` +
        'run `apt-get install -y nats-server` (or set NATS_SERVER_PATH) to enable them',
    );
  }
  const { build, misses } = loadUwsBuild();
  if (!build) {
    const why = misses.map((m) => `${m.name} ${m.why}`).join('; ');
    console.info(
      `skipped: the uWebSockets.js runs of the suites (${why}); the portable transport runs them`,
    );
  }
}
