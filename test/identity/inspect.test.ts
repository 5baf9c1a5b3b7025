// `meshc inspect`'s identities block, from an agent's status file: each SVID with its expiry (and
// how far off it is), its renewal time and serial; refusals by ServiceAccount; nothing held.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIdentities } from '../../src/inspect/identities.ts';
import { identityStatusPath, readIdentityStatus, removeIdentityStatus, writeIdentityStatus } from '../../src/identity/status.ts';
import type { HeldIdentity } from '../../src/identity/store.ts';

const test = suite('inspect: identities');
const NOW = new Date('2026-12-07T12:00:00Z');

function held(sa: string, notAfter: string): HeldIdentity {
  return { spiffeId: `spiffe://cluster.test/ns/shop/sa/${sa}`, namespace: 'shop', serviceAccount: sa, keyPem: 'SECRET KEY', certPem: '', serial: `${sa}01`, notBefore: new Date('2026-12-07T00:00:00Z'), notAfter: new Date(notAfter), renewAt: new Date('2026-12-07T12:00:00Z') };
}

test('the status file holds IDs and times, never a key; inspect prints them with the time left', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-identity-status-'));
  const saved = process.env['MESHC_RUN_DIR'];
  process.env['MESHC_RUN_DIR'] = dir;
  try {
    const pin = '/sys/fs/bpf/meshc-test-x';
    assert.is(readIdentityStatus(pin), undefined, 'no file: not opted in');
    writeIdentityStatus(pin, { trustDomain: 'cluster.test', caUrl: 'https://ca', problems: [{ serviceAccount: 'shop/db', error: 'the CA refused (403 no-pod-on-node): ...' }] }, [held('api', '2026-12-08T00:00:00Z'), held('old', '2026-12-07T11:59:00Z'), held('soon', '2026-12-07T12:00:45Z')], NOW);
    assert.is(path.dirname(identityStatusPath(pin)), dir);
    const status = readIdentityStatus(pin)!;
    assert.not.match(JSON.stringify(status), /SECRET KEY/);
    const text = formatIdentities(status, NOW);
    assert.match(text, /identities \(trust domain cluster\.test, CA https:\/\/ca, as of 2026-12-07T12:00:00\.000Z\):/);
    assert.match(text, /spiffe:\/\/cluster\.test\/ns\/shop\/sa\/api\s+2026-12-08T00:00:00\.000Z\s+\(in 12\.0h\)\s+2026-12-07T12:00:00\.000Z\s+api01/);
    assert.match(text, /sa\/old\s+\S+\s+\(expired\)/);
    assert.match(text, /sa\/soon\s+\S+\s+\(in 45s\)/);
    assert.match(text, /problem: shop\/db: the CA refused \(403 no-pod-on-node\)/);
    writeIdentityStatus(pin, { trustDomain: 'cluster.test', caUrl: 'https://ca', problems: [] }, [], NOW);
    assert.match(formatIdentities(readIdentityStatus(pin)!, NOW), /none held/);
    removeIdentityStatus(pin);
    assert.is(readIdentityStatus(pin), undefined);
  } finally {
    if (saved === undefined) delete process.env['MESHC_RUN_DIR'];
    else process.env['MESHC_RUN_DIR'] = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
