// bpf_links: attachments that last while an fd or a pin refers to them.
import { native } from './addon.ts';
import { unpin } from './bpffs.ts';

/** The addon's link handle (native/src/link.cc). */
export interface RawLink {
  info(): LinkInfo;
  fd(): number;
  pin(path: string): void;
  detach(): void;
  close(): void;
}

export interface LinkInfo {
  /** Kernel link id. */
  id: number;
  /** libbpf's link type name, e.g. 'cgroup'. */
  type: string;
  /** Attached program's id; 0 once the link was detached. */
  progId: number;
  cgroupId?: number;
  attachType?: string;
}

/** A bpf_link: an attachment that lasts while an fd or a pin refers to it. */
export class BpfLink {
  readonly #raw: RawLink;
  #pinnedPath: string | undefined;
  #closed = false;

  /** @internal Created by BpfProgram.attachCgroup() and openPinnedLink(). */
  constructor(raw: RawLink, pinnedPath?: string) {
    this.#raw = raw;
    this.#pinnedPath = pinnedPath;
  }

  /** Read from the kernel on each access. */
  get info(): LinkInfo {
    return this.#raw.info();
  }
  get fd(): number {
    return this.#raw.fd();
  }
  /** Where this handle pinned the link, or the pin it was opened from. */
  get pinnedPath(): string | undefined {
    return this.#pinnedPath;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Pins the link so it outlives this process. */
  pin(path: string): void {
    this.#raw.pin(path);
    this.#pinnedPath = path;
  }

  /** Removes the pin (the link stays attached while this handle is open). */
  unpin(): void {
    if (this.#pinnedPath === undefined) return;
    unpin(this.#pinnedPath);
    this.#pinnedPath = undefined;
  }

  /** Detaches the program now: removes the pin, detaches, closes this handle. */
  detach(): void {
    this.unpin();
    this.#raw.detach();
    this.#closed = true;
  }

  /** Releases this handle; the program stays attached only if the link is pinned. */
  close(): void {
    this.#raw.close();
    this.#closed = true;
  }
}

/** Opens a pinned link (e.g. the agent's attachments after a restart). */
export function openPinnedLink(path: string): BpfLink {
  return new BpfLink(native().openPinnedLink(path), path);
}
