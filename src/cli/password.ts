/**
 * `gatehouse hash-password`: a hidden prompt on a terminal (asked twice, as passwd does, so a typo is not
 * locked into the config), or the first line of stdin when it is piped.
 */
import { hashPassword } from '../protect/index.js';

/** A problem with what the user typed: reported in one line, exit 1. */
export class PasswordError extends Error {}

function readPiped(): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let data = '';
    stdin.setEncoding('utf8');
    stdin.on('data', (c: string) => { data += c; });
    stdin.on('end', () => resolve(data.split(/\r?\n/)[0] ?? ''));
    stdin.on('error', reject);
  });
}

/** One hidden line from the terminal: raw mode, no echo; Ctrl-C exits 130 as a shell would. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Raw mode (no echo) before the prompt: whatever is typed once the prompt shows is never echoed.
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let pw = '';
    const onData = (c: string): void => {
      for (const ch of c) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(pw);
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.stderr.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** Reads the password (twice on a terminal) and returns its scrypt hash. */
export async function hashPasswordFromInput(): Promise<string> {
  let pw: string;
  if (process.stdin.isTTY) {
    pw = await readHidden('Password: ');
    if (!pw) throw new PasswordError('empty password');
    const again = await readHidden('Password (again): ');
    if (again !== pw) throw new PasswordError('the passwords do not match; nothing was printed');
  } else {
    pw = await readPiped();
    if (!pw) throw new PasswordError('empty password');
  }
  return hashPassword(pw);
}
