// What meshc does with the HTTPRoute fields it does not (yet) carry out, per path: `simulate` (the
// simulator and the playground) and `live` (the agent: the kernel and the node proxy). One
// declaration: the model's "not applied" reports and docs/support.md are both held to it.

/** Whether a path carries a field out. */
export interface PathSupport {
  simulate: boolean;
  live: boolean;
}

/** Every HTTPRoute filter type of the Gateway API (v1.3), standard and experimental channels. */
export const FILTER_SUPPORT: Readonly<Record<string, PathSupport>> = {
  RequestHeaderModifier: { simulate: false, live: false },
  ResponseHeaderModifier: { simulate: false, live: false },
  RequestMirror: { simulate: false, live: false },
  RequestRedirect: { simulate: false, live: false },
  URLRewrite: { simulate: false, live: false },
  ExtensionRef: { simulate: false, live: false },
  CORS: { simulate: false, live: false },
  ExternalAuth: { simulate: false, live: false },
};

/** Rule fields other than matches, filters and backendRefs. */
export const RULE_FIELD_SUPPORT: Readonly<Record<string, PathSupport>> = {
  timeouts: { simulate: false, live: false },
  sessionPersistence: { simulate: false, live: false },
  retry: { simulate: false, live: false },
};

/**
 * "is not applied by simulate or by the agent (kernel and node proxy)", or the one path that does
 * not apply it; undefined when both do.
 */
export function notAppliedText(support: PathSupport | undefined): string | undefined {
  if (support?.simulate && support.live) return undefined;
  if (support?.simulate) return 'is not applied live (neither the kernel nor the node proxy does it; simulate does)';
  if (support?.live) return 'is not applied by simulate or the playground (the node proxy does it live)';
  return 'is not applied: neither simulate nor the agent (kernel or node proxy) does it';
}
