// Entry of the agent image's bundle (deploy/Dockerfile): the same CLI as bin/meshc.js, bundled by
// esbuild so that nodes run plain JavaScript without tsx's loader (about 140 MiB less memory).
// The bundle is written two directories deep (dist/meshc/), as the sources are, so the paths the
// modules compute from import.meta.url (../../build, ../../native) stay right.
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
