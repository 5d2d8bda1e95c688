#!/usr/bin/env node
/**
 * `node operator/apply-crds.ts <dir>` — server-side applies every CustomResourceDefinition in the
 * *.yaml files of <dir>. The chart runs it as a pre-upgrade Job (templates/crd-upgrade.yaml) with
 * the chart's crds/ mounted, because `helm upgrade` never touches crds/ itself. Uses the in-cluster
 * service account (or KUBECONFIG). Exits 1, naming the file, when one is refused.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { errorMessage } from '../common/errors.ts';

/** The field manager of CRD upgrades; it takes over the fields `helm install` wrote from crds/. */
export const CRD_FIELD_MANAGER = 'chatplatform-crds';

/** The CRDs in the *.yaml files of `dir`, in file order. Anything else in them is an error. */
export function readCrds(dir: string): { file: string; crd: V1CustomResourceDefinition }[] {
  const out: { file: string; crd: V1CustomResourceDefinition }[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as V1CustomResourceDefinition | null;
      if (crd === null) continue;
      if (crd.kind !== 'CustomResourceDefinition' || !crd.metadata?.name) {
        throw new Error(`${file}: not a CustomResourceDefinition (kind ${crd.kind})`);
      }
      out.push({ file, crd });
    }
  }
  return out;
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node operator/apply-crds.ts <directory of CRD YAML files>');
    process.exit(2);
  }
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const ssa = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  let failed = 0;
  const crds = readCrds(dir);
  for (const { file, crd } of crds) {
    const name = crd.metadata!.name!;
    try {
      await api.patchCustomResourceDefinition(
        { name, body: crd, fieldManager: CRD_FIELD_MANAGER, force: true },
        ssa,
      );
      console.log(`applied ${name} (${file})`);
    } catch (err) {
      failed++;
      console.error(`could not apply ${name} (${file}): ${errorMessage(err)}`);
    }
  }
  if (crds.length === 0) console.error(`no CustomResourceDefinition in ${dir}/*.yaml`);
  process.exit(failed > 0 || crds.length === 0 ? 1 : 0);
}
