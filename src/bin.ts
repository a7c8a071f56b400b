#!/usr/bin/env node
// The package's `hitl-runtime` command: serve | migrate | verify (see src/cli.ts).
import { cliDeps, runCli } from './cli.ts';

process.exitCode = await runCli(process.argv.slice(2), cliDeps());
