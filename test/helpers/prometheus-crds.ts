/**
 * prometheus-operator's PodMonitor and ServiceMonitor CRDs on a test API server: the files come from
 * its Go module at a pinned release (scripts/k8s/prometheus-crds.sh downloads it once, outside the
 * repository), applied server-side. They are cluster-wide and stay installed: applying them again
 * changes nothing, and removing them under a test that uses them would break it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
} from '@kubernetes/client-node';
import { until } from './until.ts';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'k8s', 'prometheus-crds.sh');

/** The CRD files' paths, downloading the module if this machine has not yet (seconds, once). */
export async function prometheusCrdFiles(): Promise<string[]> {
  try {
    const { stdout } = await promisify(execFile)('bash', [SCRIPT], { timeout: 300_000 });
    return stdout.split('\n').filter((line) => line !== '');
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `scripts/k8s/prometheus-crds.sh could not provide the prometheus-operator CRDs: ${e.stderr?.trim() || e.message}`,
    );
  }
}

/** Applies the PodMonitor and ServiceMonitor CRDs and waits until the API server serves both. */
export async function installPrometheusCrds(kc: KubeConfig): Promise<string[]> {
  // Read into the client's typed objects: a plain object would lose the schema's x-kubernetes-*
  // keys when the client serializes it as a CustomResourceDefinition.
  const crds = (await prometheusCrdFiles()).flatMap((file) =>
    (loadAllYaml(readFileSync(file, 'utf8')) as (KubernetesObject | null)[]).filter(
      (o): o is KubernetesObject => o?.kind === 'CustomResourceDefinition',
    ),
  );
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const crd of crds) {
    await objects.patch(
      crd,
      undefined,
      undefined,
      'chat-platform-tests',
      true,
      PatchStrategy.ServerSideApply,
    );
  }
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const names = crds.map((c) => c.metadata!.name!);
  for (const name of names) {
    await until(
      `the CRD ${name} is Established`,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return true;
        await sleep(250);
        return false;
      },
      30_000,
    );
  }
  return names;
}
