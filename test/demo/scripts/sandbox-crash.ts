// Makes a sandbox, prints its names, and dies of an uncaught error without calling cleanup():
// test/demo/sandbox.test.ts checks that the 'exit' listener removed everything anyway.
import { Sandbox } from '../../../src/demo/sandbox.ts';

const sandbox = new Sandbox({ prefix: 'meshc-test-crash' });
sandbox.create(['10.96.200.1']);
process.stdout.write(`${JSON.stringify({ netns: sandbox.netns, cgroup: sandbox.cgroup, pin: sandbox.pin, tmp: sandbox.tmp })}\n`);
throw new Error('crash on purpose');
