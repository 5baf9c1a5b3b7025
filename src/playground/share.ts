// The share link: the page's state in the URL fragment. `#z=` + base64url of deflate-raw JSON when
// the browser has CompressionStream, else `#p=` + base64url of the plain JSON. Pure (Web APIs only).

import { isRequestForm, type RequestForm } from './request.ts';

export interface PlaygroundState {
  /** The scenario the manifests came from, when unedited; informational only. */
  fixture: string | null;
  manifests: string;
  request: RequestForm;
  tests: string;
}

export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const body = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function canCompress(): boolean {
  try {
    return typeof CompressionStream === 'function' && Boolean(new CompressionStream('deflate-raw'));
  } catch {
    return false;
  }
}

/** The fragment (with its `#`) for `state`. `compress: false` forces the plain form. */
export async function encodeState(state: PlaygroundState, compress = canCompress()): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(state));
  if (!compress) return `#p=${base64url(json)}`;
  return `#z=${base64url(await pipe(json, new CompressionStream('deflate-raw')))}`;
}

/** The state in a fragment made by encodeState; undefined when there is none or it is damaged. */
export async function decodeState(fragment: string): Promise<PlaygroundState | undefined> {
  const match = /^#?([zp])=([A-Za-z0-9_-]+)$/.exec(fragment);
  if (!match) return undefined;
  try {
    let bytes = fromBase64url(match[2]!);
    if (match[1] === 'z') bytes = await pipe(bytes, new DecompressionStream('deflate-raw'));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isState(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isState(value: unknown): value is PlaygroundState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (v.fixture === null || typeof v.fixture === 'string') && typeof v.manifests === 'string' && typeof v.tests === 'string' && isRequestForm(v.request);
}
