// The node's tunnel endpoint: outbound, a client pod's steered connection becomes an HTTP/2
// CONNECT stream on a pooled TLS 1.3 session to the destination node's tunnel, presenting the
// client's identity; inbound, the peer's SPIFFE ID is checked against the destination pod's
// allowed identities and the pod is dialled. Every refusal has a reason, counted and emitted.
import http2, { type ClientHttp2Session, type Http2Session, type SecureServerOptions, type ServerHttp2Stream } from 'node:http2';
import net, { type Server, type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Credentials } from './credentials.ts';
import type { TunnelConfig } from './config.ts';
import { parseSpiffeId, peerSpiffeId, serverNameOf } from './identity.ts';
import type { SteerRecord } from './steering.ts';

/** Why a connection was refused. */
export type RefuseReason =
  | 'no-record' // accepted on the outbound listener without a steering record from connect4
  | 'stale-record' // the record is older than recordMaxAgeMs
  | 'unknown-source' // the record's cgroup is no pod of this node
  | 'source-address' // the connection does not come from the address of the cgroup's pod
  | 'unknown-destination' // steered, but no identity is known for the destination pod
  | 'no-certificate' // this node holds no valid SVID for the source identity
  | 'handshake' // TLS failed: the peer's certificate is not trusted, expired, ...
  | 'peer-identity' // the peer's certificate carries another SPIFFE ID than expected
  | 'not-allowed' // the destination pod does not allow the source identity
  | 'identity-mismatch' // the destination address is now a pod of another identity
  | 'no-local-pod' // no pod requiring authentication at that address on this node
  | 'dial-failed' // the destination pod did not accept the connection
  | 'bad-request'; // not a CONNECT to an address:port

export interface TunnelEvent {
  time: number;
  type: 'opened' | 'refused' | 'closed';
  direction: 'outbound' | 'inbound';
  source?: string;
  destination?: string;
  /** The pod address:port the client dialled. */
  target?: string;
  /** Outbound: the address of the client pod the connection came from. */
  client?: string;
  authenticated: boolean;
  reason?: RefuseReason;
  detail?: string;
}

/** Reads (and removes) the steering record of a connection by its client source port. */
export type RecordSource = (port: number) => SteerRecord | undefined;

const REASON_HEADER = 'x-meshc-reason';
const DETAIL_HEADER = 'x-meshc-detail';
/** Per-stream and per-session flow-control windows: bulk transfers are not held to 64 KiB in flight. */
const STREAM_WINDOW = 4 * 1024 * 1024;
const SESSION_WINDOW = 32 * 1024 * 1024;
/** Why the peer sent GOAWAY to a session (the inbound side's refusal of the whole session). */
const refusals = new WeakMap<Http2Session, { reason: RefuseReason; detail: string }>();

function goawayRefusal(data: Buffer | undefined): { reason: RefuseReason; detail: string } {
  try {
    const parsed = JSON.parse(data?.toString() ?? '') as { reason?: RefuseReason; detail?: string };
    if (parsed.reason) return { reason: parsed.reason, detail: parsed.detail ?? '' };
  } catch {
    // no reason given
  }
  return { reason: 'handshake', detail: 'the peer closed the session without a reason' };
}

const H2_SETTINGS = { initialWindowSize: STREAM_WINDOW, maxFrameSize: 256 * 1024, maxConcurrentStreams: 10_000 };

export class Tunnel {
  private config: TunnelConfig;
  private outboundServer?: Server;
  private inboundServer?: http2.Http2SecureServer;
  private readonly pool = new Map<string, Promise<ClientHttp2Session>>();
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  readonly counts = new Map<string, number>();

  constructor(
    config: TunnelConfig,
    readonly credentials: Credentials,
    private readonly records: RecordSource,
    private readonly emit: (event: TunnelEvent) => void = () => {},
    private readonly now: () => bigint = () => process.hrtime.bigint(),
  ) {
    this.config = config;
    // A new SVID: new connections handshake with it; sessions up finish their streams (rotation).
    credentials.onChange((identity) => {
      for (const [key, pending] of this.pool) {
        if (identity !== undefined && !key.startsWith(`${identity}|`)) continue;
        this.pool.delete(key);
        pending.then((s) => s.close(), () => {});
      }
    });
  }

  /** Applies a new view of the node (pods came, went, or changed identity). */
  update(config: TunnelConfig): void {
    this.config = config;
  }

  async listen(): Promise<void> {
    this.outboundServer = net.createServer((socket) => this.outbound(socket));
    const options: SecureServerOptions = {
      SNICallback: (name, cb) => {
        const identity = this.localIdentityByServerName(name);
        const context = identity ? this.credentials.context(identity) : undefined;
        if (!context) {
          this.count('refused.no-certificate');
          cb(new Error(`no certificate for server name ${name}`), undefined);
          return;
        }
        cb(null, context);
      },
      ca: this.credentials.ca,
      requestCert: true,
      // Checked in inboundSession, before any stream is read, so the refusal names the reason.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      allowHTTP1: false,
      settings: H2_SETTINGS,
    };
    this.inboundServer = http2.createSecureServer(options);
    this.inboundServer.on('session', (session) => this.inboundSession(session));
    this.inboundServer.on('tlsClientError', (err, socket) => {
      this.refuse('inbound', 'handshake', `from ${socket.remoteAddress}: ${err.message}`, {});
    });
    await Promise.all([
      new Promise<void>((resolve, reject) => this.outboundServer!.once('error', reject).listen(this.config.outbound.port, this.config.outbound.addr, resolve)),
      new Promise<void>((resolve, reject) => this.inboundServer!.once('error', reject).listen(this.config.inbound.port, this.config.inbound.addr, resolve)),
    ]);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    for (const session of this.sessions) session.destroy();
    for (const pending of this.pool.values()) pending.then((s) => s.destroy(), () => {});
    this.pool.clear();
    await Promise.all([
      new Promise((r) => (this.outboundServer ? this.outboundServer.close(r) : r(undefined))),
      new Promise((r) => (this.inboundServer ? this.inboundServer.close(r) : r(undefined))),
    ]);
  }

  /** Pooled sessions (one per source identity, destination identity and destination node). */
  poolKeys(): string[] {
    return [...this.pool.keys()];
  }

  private count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private refuse(direction: TunnelEvent['direction'], reason: RefuseReason, detail: string, who: Partial<TunnelEvent>): void {
    this.count(`refused.${reason}`);
    this.emit({ time: Date.now(), type: 'refused', direction, authenticated: false, reason, detail, ...who });
  }

  private localIdentityByServerName(name: string): string | undefined {
    return this.credentials.identities().find((id) => serverNameOf(id) === name);
  }

  // ---- outbound: a client pod's steered connection ----

  private outbound(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const fail = (reason: RefuseReason, detail: string, who: Partial<TunnelEvent> = {}) => {
      this.refuse('outbound', reason, detail, who);
      // A reset, not a clean end: the client must not take a refusal for an empty answer.
      socket.resetAndDestroy();
    };
    const record = socket.remotePort ? this.records(socket.remotePort) : undefined;
    if (!record) return fail('no-record', `connection from ${socket.remoteAddress}:${socket.remotePort} was not steered by connect()`);
    const target = `${record.addr}:${record.port}`;
    const ageMs = Number(this.now() - record.timestamp) / 1e6;
    if (ageMs > this.config.recordMaxAgeMs) return fail('stale-record', `record for ${target} is ${Math.round(ageMs)} ms old`, { target });
    const source = this.config.sources.get(String(record.cgroupId));
    if (!source) return fail('unknown-source', `cgroup ${record.cgroupId} is no pod of node ${this.config.node}`, { target });
    if (source.addr !== socket.remoteAddress) {
      return fail('source-address', `cgroup ${record.cgroupId} is the pod at ${source.addr}, the connection came from ${socket.remoteAddress}`, { source: source.identity, target });
    }
    const destination = this.config.destinations.get(record.addr);
    const who = { source: source.identity, destination: destination?.identity, target, client: source.addr };
    if (!destination) return fail('unknown-destination', `no identity known for ${record.addr}`, who);
    if (!this.credentials.has(source.identity)) return fail('no-certificate', `node ${this.config.node} holds no certificate for ${source.identity}`, who);
    this.session(source.identity, destination.identity, `${destination.node.addr}:${destination.node.port}`).then(
      (session) => {
        if (socket.destroyed) return;
        const stream = session.request({ ':method': 'CONNECT', ':authority': target }, { endStream: false });
        stream.once('response', (headers) => {
          const status = headers[':status'];
          if (status !== 200) {
            stream.close();
            const reason = (headers[REASON_HEADER] as RefuseReason | undefined) ?? 'dial-failed';
            return fail(reason, `${destination.node.addr}: ${status} ${String(headers[DETAIL_HEADER] ?? '')}`, who);
          }
          this.count('opened.outbound');
          this.emit({ time: Date.now(), type: 'opened', direction: 'outbound', authenticated: true, ...who });
          splice(socket, stream);
          stream.once('close', () => this.emit({ time: Date.now(), type: 'closed', direction: 'outbound', authenticated: true, ...who }));
        });
        stream.once('error', (err) => {
          if (socket.destroyed) return;
          const refused = refusals.get(session);
          fail(refused?.reason ?? 'dial-failed', refused ? `${destination.node.addr}: ${refused.detail}` : err.message, who);
        });
      },
      (err: Error & { reason?: RefuseReason }) => fail(err.reason ?? 'handshake', err.message, who),
    );
  }

  /** The pooled session for (source identity, destination identity, destination node). */
  private session(source: string, destination: string, node: string): Promise<ClientHttp2Session> {
    const key = `${source}|${destination}|${node}`;
    const pooled = this.pool.get(key);
    if (pooled) return pooled;
    const [host, port] = [node.slice(0, node.lastIndexOf(':')), Number(node.slice(node.lastIndexOf(':') + 1))];
    const context = this.credentials.context(source)!;
    const trustDomain = this.config.trustDomain;
    const pending = new Promise<ClientHttp2Session>((resolve, reject) => {
      let peerError: (Error & { reason?: RefuseReason }) | undefined;
      const session = http2.connect(`https://${node}`, {
        settings: H2_SETTINGS,
        createConnection: () =>
          tls.connect({
            host,
            port,
            secureContext: context,
            servername: serverNameOf(destination),
            ALPNProtocols: ['h2'],
            minVersion: 'TLSv1.3',
            maxVersion: 'TLSv1.3',
            rejectUnauthorized: true,
            // The destination must prove the identity the control plane expects for the pod.
            checkServerIdentity: (_name, cert) => {
              const id = peerSpiffeId(cert);
              if (id === destination && parseSpiffeId(id, 'peer').trustDomain === trustDomain) return undefined;
              peerError = Object.assign(new Error(`destination ${node} presented ${id ?? 'no SPIFFE ID'}, expected ${destination}`), { reason: 'peer-identity' as const });
              return peerError;
            },
          }),
      });
      this.sessions.add(session);
      const drop = () => {
        this.sessions.delete(session);
        if (this.pool.get(key) === pending) this.pool.delete(key);
      };
      session.once('connect', () => {
        this.count('sessions.outbound');
        session.setLocalWindowSize(SESSION_WINDOW);
        resolve(session);
      });
      session.once('error', (err) => {
        drop();
        reject(peerError ?? Object.assign(err, { reason: 'handshake' as const }));
      });
      session.once('close', drop);
      session.once('goaway', (_code: number, _last: number, data?: Buffer) => {
        drop();
        refusals.set(session, goawayRefusal(data));
      });
    });
    this.pool.set(key, pending);
    return pending;
  }

  // ---- inbound: a peer node's streams to this node's pods ----

  private inboundSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.on('error', () => session.destroy());
    const socket = session.socket as TLSSocket;
    const peer = peerSpiffeId(socket.getPeerCertificate());
    const served = this.localIdentityByServerName((socket as TLSSocket & { servername?: string }).servername ?? '');
    let refusal: [RefuseReason, string] | undefined;
    if (!socket.authorized) {
      refusal = ['handshake', `peer ${socket.remoteAddress}: certificate not trusted: ${String(socket.authorizationError ?? 'no certificate')}`];
    } else if (!peer || parseSpiffeId(peer, 'peer').trustDomain !== this.config.trustDomain) {
      refusal = ['peer-identity', `peer ${socket.remoteAddress} presented ${peer ?? 'no SPIFFE ID'}, not an identity of trust domain ${this.config.trustDomain}`];
    }
    if (refusal || !peer) {
      refusal ??= ['peer-identity', `peer ${socket.remoteAddress} presented no SPIFFE ID`];
      // No stream of this session is served; the peer learns why from the GOAWAY's debug data.
      this.refuse('inbound', refusal[0], refusal[1], { source: peer });
      session.on('stream', (stream) => {
        stream.on('error', () => {});
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      });
      session.goaway(http2.constants.NGHTTP2_INADEQUATE_SECURITY, 0, Buffer.from(JSON.stringify({ reason: refusal[0], detail: refusal[1] })));
      setTimeout(() => session.destroy(), 200).unref();
      return;
    }
    session.setLocalWindowSize(SESSION_WINDOW);
    session.on('stream', (stream, headers) => this.inboundStream(stream, headers, peer, served));
  }

  private inboundStream(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peer: string, served: string | undefined): void {
    stream.on('error', () => stream.destroy());
    const target = String(headers[':authority'] ?? '');
    const deny = (status: number, reason: RefuseReason, detail: string, destination?: string) => {
      this.refuse('inbound', reason, detail, { source: peer, destination, target });
      if (!stream.destroyed) stream.respond({ ':status': status, [REASON_HEADER]: reason, [DETAIL_HEADER]: detail }, { endStream: true });
    };
    const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(target);
    if (headers[':method'] !== 'CONNECT' || !m) return deny(400, 'bad-request', `expected CONNECT address:port, got ${String(headers[':method'])} ${target}`);
    const [addr, port] = [m[1]!, Number(m[2])];
    const pod = this.config.local.get(addr);
    if (!pod) return deny(404, 'no-local-pod', `no pod requiring authentication at ${addr} on node ${this.config.node}`);
    // The session presented `served`; the address must still be a pod of that identity (IP reuse).
    if (pod.identity !== served) return deny(421, 'identity-mismatch', `${addr} is ${pod.identity} now, the session was made for ${served ?? 'no identity'}`, pod.identity);
    // The node must still hold the SVID the session was made with (dropped at expiry, or with the
    // last pod of that ServiceAccount): a session pooled before is not served on.
    if (!this.credentials.has(served)) return deny(421, 'no-certificate', `node ${this.config.node} no longer holds a certificate for ${served ?? 'the identity this session was made for'}`, served);
    if (!pod.allowed.includes(peer)) return deny(403, 'not-allowed', `${peer} may not reach ${pod.identity} at ${addr}`, pod.identity);
    const upstream = net.connect({ host: addr, port });
    let connected = false;
    upstream.once('error', (err) => {
      if (!connected) deny(502, 'dial-failed', `${target}: ${err.message}`, pod.identity);
    });
    upstream.once('connect', () => {
      connected = true;
      if (stream.destroyed) return upstream.destroy();
      stream.respond({ ':status': 200 });
      this.count('opened.inbound');
      this.emit({ time: Date.now(), type: 'opened', direction: 'inbound', authenticated: true, source: peer, destination: pod.identity, target });
      splice(upstream, stream);
    });
  }
}

/** Joins a TCP socket and an HTTP/2 stream both ways; an error or reset on one ends the other. */
function splice(socket: Socket, stream: http2.Http2Stream): void {
  socket.pipe(stream);
  stream.pipe(socket);
  socket.once('error', () => stream.close(http2.constants.NGHTTP2_CANCEL));
  socket.once('close', () => {
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
  });
  stream.once('close', () => {
    if (stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) socket.resetAndDestroy();
    else socket.end();
  });
}
