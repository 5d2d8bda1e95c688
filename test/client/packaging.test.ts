/**
 * The SDK as people install it: `npm pack` of client/ (which builds it), the tarball installed into a
 * fresh project in a temp dir, a Node script there logging in and chatting with a real node through
 * the installed package, a TypeScript file type-checked against its declarations, and a browser bundle
 * of it that holds no Node-only module.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../helpers/node.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

/** A Node older than the repo's own when the machine has one (the package promises Node 20+). */
function oldestNode(): string {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node'])
    if (existsSync(candidate)) return candidate;
  return process.execPath;
}

let dir: string;
let project: string;
let tarball: string;
let node: TestNode;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sdk-package-'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir, ...NPM_FLAGS], {
    cwd: join(root, 'client'),
    timeout: 120_000,
  });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no package: ${packed.stdout}`);
  tarball = join(dir, info.filename);
  project = join(dir, 'app');
  await run('mkdir', [project]);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }),
  );
  await run('npm', ['install', ...NPM_FLAGS, tarball, 'ws@8'], { cwd: project, timeout: 180_000 });
  node = await startTestNode();
}, 300_000);

afterAll(async () => {
  await node?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the SDK package', () => {
  it('packs built JavaScript and declarations, and no TypeScript source', async () => {
    const listed = await run('tar', ['-tzf', tarball]);
    const files = listed.stdout.trim().split('\n');
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/README.md');
    expect(files).toContain('package/dist/client/index.js');
    expect(files).toContain('package/dist/client/index.d.ts');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('logs in and chats with a real node from a Node script in a fresh project', async () => {
    const script = `
import { ChatApi, ChatClient } from '@chat-platform/client';
const [base, tag] = process.argv.slice(2);
const ann = new ChatApi(base);
const bob = new ChatApi(base);
await ann.createUser('ann-' + tag, 'ann password');
await bob.createUser('bob-' + tag, 'bob password');
const annSession = await ann.login('ann-' + tag, 'ann password');
const bobSession = await bob.login('bob-' + tag, 'bob password');
const bobClient = new ChatClient({ baseUrl: base, token: bobSession.token, discover: false });
const received = new Promise((resolve) => bobClient.on('message', resolve));
await bobClient.connect();
const annClient = new ChatClient({ baseUrl: base, token: annSession.token, discover: false });
await annClient.connect();
const sent = await annClient.send({ to: bobSession.userId, text: 'hello from the package' });
const message = await received;
const history = await bob.history(message.conversation);
annClient.close();
bobClient.close();
console.log(JSON.stringify({ node: process.version, ann: annSession.userId, bob: bobSession.userId, sent, message, history }));
`;
    writeFileSync(join(project, 'chat.js'), script);
    const out = await run(oldestNode(), ['chat.js', node.baseUrl, `${process.pid}-${Date.now()}`], {
      cwd: project,
      timeout: 60_000,
    });
    const r = JSON.parse(out.stdout);
    expect(Number(/^v(\d+)/.exec(r.node)?.[1])).toBeGreaterThanOrEqual(20);
    expect(r.message).toMatchObject({ from: r.ann, to: r.bob, text: 'hello from the package' });
    expect(r.message.messageId).toBe(r.sent.messageId);
    expect(r.history.map((m: { messageId: string }) => m.messageId)).toEqual([r.sent.messageId]);
  });

  it('type-checks a TypeScript program against its declarations (skipLibCheck off)', async () => {
    writeFileSync(
      join(project, 'typed.ts'),
      `import { ChatApi, ChatClient, type Message } from '@chat-platform/client';
const api = new ChatApi('http://127.0.0.1:1');
const client = new ChatClient({ baseUrl: api.baseUrl, token: 't' });
client.on('message', (m: Message) => console.log(m.text.length, m.messageId));
export const sent: Promise<{ messageId: string }> = client.send({ to: 'u', text: 'x' });
`,
    );
    writeFileSync(
      join(project, 'typed-wrong.ts'),
      `import { ChatClient } from '@chat-platform/client';
new ChatClient({ baseUrl: 'http://x', token: 't' }).send({ text: 'no recipient' });
`,
    );
    const tsconfig = (files: string[]) =>
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files,
      });
    const tsc = join(root, 'node_modules/.bin/tsc');
    writeFileSync(join(project, 'tsconfig.json'), tsconfig(['typed.ts']));
    await run(tsc, ['-p', project], { timeout: 60_000 });
    // A wrong call must be refused, or the check above proves nothing.
    writeFileSync(join(project, 'tsconfig.json'), tsconfig(['typed-wrong.ts']));
    const wrong = await run(tsc, ['-p', project], { timeout: 60_000 }).then(
      () => '',
      (e: { stdout: string }) => e.stdout,
    );
    expect(wrong).toContain('typed-wrong.ts');
  });

  it('bundles for the browser with no Node-only module, no ws and no zod in the bundle', async () => {
    writeFileSync(
      join(project, 'browser.js'),
      `import { ChatApi, ChatClient } from '@chat-platform/client';
const api = new ChatApi(location.origin);
globalThis.chat = { api, client: (token) => new ChatClient({ baseUrl: location.origin, token }) };
`,
    );
    const result = await build({
      absWorkingDir: project,
      entryPoints: ['browser.js'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      outfile: join(project, 'out/browser.js'),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const sdk = 'node_modules/@chat-platform/client/dist/';
    expect(inputs).toContain(`${sdk}client/chat-client.js`);
    // Everything bundled is the entry or the SDK's own code; ws is mapped to an empty module.
    const others = inputs.filter((p) => p !== 'browser.js' && !p.startsWith(sdk));
    expect(others).toEqual(['(disabled):node_modules/ws/browser.js']);
    const output = Object.values(result.metafile.outputs)[0];
    expect(output?.imports).toEqual([]);
    const bundled = readFileSync(join(project, 'out/browser.js'), 'utf8');
    expect(bundled).not.toMatch(/from\s*["'](node:|fs|net|tls|http|crypto)["']/);
  });
});
