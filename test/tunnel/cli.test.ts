// `meshc agent --tunnel`: what it needs, said before anything is loaded or attached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { callMeshc } from '../helpers/meshc.ts';

const CGROUP = ['--cgroup', '/sys/fs/cgroup/unified/x'];
const IDENTITY = ['--ca-url', 'https://ca', '--trust-domain', 'cluster.test', '--trust-bundle', '/dev/null'];

const usage: [string, string[], RegExp][] = [
  ['without identities', ['agent', ...CGROUP, '--tunnel'], /--tunnel needs workload identities \(--ca-url, --trust-domain, --trust-bundle\)/],
  ['without --node-ip', ['agent', ...CGROUP, ...IDENTITY, '--tunnel'], /--tunnel needs --node-ip/],
];
for (const [what, args, message] of usage) {
  test(`agent --tunnel usage error: ${what}`, async () => {
    const r = await callMeshc(...args);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
  });
}

test.run();
