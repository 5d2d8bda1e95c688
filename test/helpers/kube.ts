/**
 * The test Kubernetes API server of `npm run k8s:up`: its kubeconfig, and the ChatCluster CRD
 * installed as generated now (server-side apply), waited for until ChatClusters are served.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { CRD_NAME, chatClusterCrd, GROUP, PLURAL, VERSION } from '../../operator/chatcluster-schema.ts';
import { until } from './until.ts';

export const KUBECONFIG = join(import.meta.dirname, '..', '..', '.services', 'kubeconfig');

/** The test API server's kubeconfig; fails saying what to run when it is missing. */
export function testKubeConfig(): KubeConfig {
  if (!existsSync(KUBECONFIG)) throw new Error(`${KUBECONFIG} is missing: run npm run k8s:up`);
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

/** Applies the CRD as generated and waits until ChatClusters can be listed in `namespace`. */
export async function installChatClusterCrd(kc: KubeConfig, namespace: string): Promise<void> {
  await kc
    .makeApiClient(ApiextensionsV1Api)
    .patchCustomResourceDefinition(
      { name: CRD_NAME, body: chatClusterCrd, fieldManager: 'chat-platform-tests', force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  const custom = kc.makeApiClient(CustomObjectsApi);
  await until('the ChatCluster CRD is served', () =>
    custom
      .listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })
      .then(() => true)
      .catch(() => false),
  );
}
