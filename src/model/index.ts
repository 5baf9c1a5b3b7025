// The model loader's browser-safe API. The Node file reader is in load-files.ts.

export * from './types.ts';
export type { ManifestDoc, FieldPath, Locator } from './manifest-doc.ts';
export { buildModel, DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, type BuildOptions } from './build.ts';
export { parseManifests } from './parse.ts';
export { formatDiagnostic, formatFieldPath, type ObjectOrigin } from './diagnostics.ts';
export { normalizeHTTPRoute, resolveRouteReferences, pathValueProblem } from './httproute.ts';
export { ALGORITHM_ANNOTATION } from './service.ts';
export { SKIP_ANNOTATION } from './objects.ts';
