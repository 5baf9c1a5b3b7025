#!/usr/bin/env node
// The node tunnel (src/tunnel/main.ts) as a process: `meshc-tunnel CONFIG.json`.
import { register } from 'tsx/esm/api';

register();
await import('../src/tunnel/main.ts');
