import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, KIND } from '../../operator/chatcluster-schema.ts';
import { crdDir, renderCrds } from '../../scripts/gen-crds.ts';

const samplesDir = join(crdDir, 'samples');
const samples = readdirSync(samplesDir).filter((f) => f.endsWith('.yaml'));

describe('crds/', () => {
  for (const [file, text] of renderCrds()) {
    it(`holds ${file} exactly as the schema in code generates it`, () => {
      const path = join(crdDir, file);
      const onDisk = existsSync(path) ? readFileSync(path, 'utf8') : '';
      expect(onDisk, `crds/${file} differs from operator/chatcluster-schema.ts: run npm run crds`).toBe(text);
    });
  }
});

describe('crds/samples/', () => {
  it('holds the minimal and the production sample', () => {
    expect(samples).toEqual(expect.arrayContaining(['minimal.yaml', 'production.yaml']));
  });

  for (const file of samples) {
    it(`parses ${file} as one ChatCluster with a name and a spec`, () => {
      const docs = parseAllDocuments(readFileSync(join(samplesDir, file), 'utf8'));
      expect(docs).toHaveLength(1);
      const doc = docs[0]!;
      expect(doc.errors).toEqual([]);
      const obj = doc.toJS();
      expect(obj).toMatchObject({
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: expect.any(String) },
      });
      expect(obj.spec.image).toEqual(expect.any(String));
    });
  }
});
