// `meshc test` on the manifests issue 12 found wrong: correct expectations about two Services
// that select the same pods pass (item 1), and a YAML problem in inline manifests is one located
// error of its document while the other documents load and the cases run (item 9).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callMeshc } from '../helpers/meshc.ts';

/** Indents multi-document YAML as the block literal of `manifests: {inline: |}`. */
function inline(yaml: string): string {
  return `manifests:\n  inline: |\n${yaml.trim().split('\n').map((line) => `    ${line}`).join('\n')}\n`;
}

const twins = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: web}]}}
---
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: front}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split}
spec:
  parentRefs: [{group: "", kind: Service, name: front, port: 80}]
  rules: [{backendRefs: [{name: b, port: 80, weight: 3}, {name: front, port: 80, weight: 1}]}]
`;

const aliasManifests = `
apiVersion: v1
kind: Service
metadata:
  name: a
  labels:
    <<: *base
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {ports: [{port: 80}]}
`;

interface Case {
  name: string;
  file: string;
  status: number;
  /** Patterns the output (stdout and stderr) must match. */
  output: RegExp[];
}

const cases: Case[] = [
  {
    name: 'item 1: Services with the same pods, and a route to a twin of its parent: correct expectations pass',
    file: `${inline(twins)}tests:
- name: a is a
  request: {to: "a:80"}
  expect: {backend: a, route: none}
- name: b is b
  request: {to: "b:80"}
  expect: {backend: b, route: none}
- name: the route splits between its parent and b, each by weight
  request: {to: "front:80", connections: 4000}
  expect: {route: "split#0", refused: false, distribution: {b: 0.75, front: 0.25}, tolerance: 3%}
`,
    status: 0,
    output: [/PASS {2}a is a/, /PASS {2}b is b/, /PASS {2}the route splits/, /PASS: 3\/3/],
  },
  {
    name: 'item 1: an expectation naming the twin that did not decide fails',
    file: `${inline(twins)}tests:
- name: a is not b
  request: {to: "a:80"}
  expect: {backend: b}
`,
    status: 1,
    output: [/FAIL {2}a is not b/, /expected every connection to reach default\/b, got default\/a 100\.0%/],
  },
  {
    name: 'item 6: request.to in the forms simulate --to takes: NAME.NAMESPACE.svc[.cluster.local]:PORT and NAMESPACE/NAME:PORT',
    file: `${inline(twins)}tests:
- name: by DNS name
  request: {to: "a.default.svc.cluster.local:80"}
  expect: {backend: a}
- name: by DNS name without the cluster domain
  request: {to: "b.default.svc:80"}
  expect: {backend: b}
- name: by namespace/name
  request: {to: "default/a:80"}
  expect: {backend: a}
`,
    status: 0,
    output: [/PASS {2}by DNS name\n/, /PASS {2}by DNS name without/, /PASS {2}by namespace\/name/, /PASS: 3\/3/],
  },
  {
    name: 'item 6: a ClusterIP in request.to is a located problem (expectations default to the Service\'s namespace)',
    file: `${inline(twins)}tests:
- name: by ClusterIP
  request: {to: "10.96.0.10:80"}
  expect: {backend: a}
`,
    status: 1,
    output: [/t\.tests\.yaml:\d+: tests\[0\]\.request\.to: "10\.96\.0\.10:80" is a ClusterIP: a test names its Service/],
  },
  {
    name: 'item 9: an unresolved alias in inline manifests is one located error; the other document loads and the case runs',
    file: `${inline(aliasManifests)}tests:
- name: b loads and has no endpoints
  request: {to: "b:80"}
  expect: {refused: true, reason: no-endpoints}
- name: a was left out
  request: {to: "a:80"}
  expect: {refused: true}
`,
    status: 1,
    output: [
      /t\.tests\.yaml:8 \(doc 1\): YAML error: alias \*base names no anchor defined before it/,
      /PASS {2}b loads and has no endpoints/,
      /ERROR a was left out[^\n]*\n[^\n]*Service default\/a not found/,
      /1 error\(s\) in the manifests/,
    ],
  },
];

const test = suite('meshc test on real manifests');
for (const c of cases) {
  test(c.name, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshc-real-manifests-'));
    try {
      const file = path.join(dir, 't.tests.yaml');
      writeFileSync(file, c.file);
      const r = await callMeshc('test', file, '-v');
      const output = r.stdout + r.stderr;
      assert.not.match(output, /\n\s+at [^\n]*:\d+:\d+/, 'no stack trace');
      assert.is(r.status, c.status, output);
      for (const pattern of c.output) assert.match(output, pattern);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
