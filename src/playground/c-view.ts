// The generated-C view, loaded when its tab first opens: the BPF C that src/compiler generated from
// assembly/ when the site was built (the page does not change the policy, so this text is fixed).

import { cpp } from '@codemirror/lang-cpp';
import { readOnlyEditor } from './editors.ts';

interface About {
  source: 'generateC' | 'unavailable';
}

export async function showGeneratedC(status: HTMLElement, parent: HTMLElement): Promise<void> {
  const [text, about] = await Promise.all([
    fetch('generated/policy.c').then((r) => (r.ok ? r.text() : Promise.reject(new Error(`generated/policy.c: HTTP ${r.status}`)))),
    fetch('generated/about.json').then((r) => r.json() as Promise<About>),
  ]);
  status.textContent = about.source === 'generateC'
    ? `Prebuilt: generated from assembly/ by meshc's C generator (src/compiler) when this site was built. Read only.`
    : 'Prebuilt output unavailable: the C generator could not produce it when this site was built (see the note below).';
  readOnlyEditor(parent, text, cpp(), 'Generated BPF C (read only)');
}
