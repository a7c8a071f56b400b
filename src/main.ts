import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger } from './logger.ts';
import { serverOptionsFromConfig } from './server-options.ts';
import { startApp, type App } from './start-server.ts';

/**
 * `npm start` and `hitl-runtime serve`: reads the environment, starts the server with the
 * built-in planner and tools, and stops it on SIGINT/SIGTERM. Exits 1 when it cannot start.
 */
export async function serve(env: Record<string, string | undefined> = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let app: App;
  try {
    app = await startApp({ ...serverOptionsFromConfig(config), logger });
  } catch (error) {
    logger.fatal({ err: error }, 'cannot start');
    process.stderr.write(
      `cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  process.stdout.write(
    `\nHITL runtime listening on ${app.url}\n` +
      `Inspect: ${app.url}/inspect  (sessions, live statechart, timeline, approvals)\n` +
      `Try it:  curl -s -X POST ${app.url}/api/v1/sessions\n` +
      `then:    npx wscat -c "${app.url.replace('http', 'ws')}/api/v1/ws?session_id=<id>"  and send {"type":"execute","command":"transfer 250 USD to alice"}\n\n`,
  );
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void serve();
}
