/** Origins in child processes (test/helpers/origin-process.mjs), for tests that kill and restart them. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { send } from './client.js';

const SCRIPT = fileURLToPath(new URL('./origin-process.mjs', import.meta.url));

export interface OriginProcess {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  kill(): void;
  restart(): Promise<void>;
  mode(m: 'ok' | '500' | 'hang'): Promise<void>;
}

function launch(port: number, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [SCRIPT, String(port), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`origin ${name} exited (${code})`)));
  });
}

export async function startOriginProcess(t: TestContext, port: number, name: string): Promise<OriginProcess> {
  const o: OriginProcess = {
    name, port, url: `http://127.0.0.1:${port}`,
    child: await launch(port, name),
    kill() { o.child.kill('SIGKILL'); },
    async restart() { o.child = await launch(port, name); },
    async mode(m) { await send(`${o.url}/__mode?m=${m}`); },
  };
  t.after(() => { o.child.kill('SIGKILL'); });
  return o;
}
