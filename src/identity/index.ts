// What other rooms (the tunnel, the agent, the CA) use of workload identities, in one place.
export { formatSpiffeId, parseServiceAccountId, parseSpiffeId, serviceAccountSpiffeId, SpiffeIdError, type ServiceAccountId, type SpiffeId } from './spiffe.ts';
export { buildCsr, createRootCa, DEFAULT_SVID_LIFETIME_SECONDS, generateNodeKey, issueSvid, loadRootCa, parseBundle, renewalTime, splitPem, SvidError, verifySvid, type NodeKey, type RootCa, type SvidRejection, type VerifiedSvid } from './x509.ts';
export { IdentityStore, type HeldIdentity, type IdentitySource } from './store.ts';
