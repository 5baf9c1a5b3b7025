// The signer's view of the cluster through the API server, as the CA's own ServiceAccount
// (deploy/ca/: tokenreviews create, pods get and list, nothing else).
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, kubeRequest, podsOnNode, reviewToken } from '../identity/kube-api.ts';
import type { ClusterView } from './signer.ts';

export function apiClusterView(kc: KubeConfig): ClusterView {
  return {
    reviewToken: (token) => reviewToken(kc, token),
    async getPod(namespace, name) {
      try {
        return await kubeRequest(kc, 'GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) return undefined;
        throw error;
      }
    },
    podsOnNode: async (node) => (await podsOnNode(kc, node)).items,
  };
}
