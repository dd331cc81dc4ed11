// Running the kernel's network tools (ip, nft, nsenter): a failure names the command and carries
// what the tool said.
import { spawn } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(`${command} failed${code === null ? '' : ` (exit ${code})`}: ${stderr.trim() || 'no message'}`);
    this.name = 'CommandError';
  }
}

/**
 * An nft script that replaces table `family name` with `body` (its chains and sets) in one
 * transaction: declaring, deleting and defining it swaps it atomically, whether it existed or not.
 */
export function swapTable(family: string, name: string, body: string[]): string {
  return [`table ${family} ${name}`, `delete table ${family} ${name}`, `table ${family} ${name} {`, ...body, '}', ''].join('\n');
}

/** Runs `argv` with `input` on stdin; resolves with its stdout, rejects with a CommandError. */
export function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.on('error', () => undefined);
    child.once('error', (e) => reject(new CommandError(argv.join(' '), e.message, null)));
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new CommandError(describe(argv, input), err, code))));
    child.stdin.end(input ?? '');
  });
}

function describe(argv: string[], input: string | undefined): string {
  const text = argv.join(' ');
  return input ? `${text} <<<${JSON.stringify(input.trim().split('\n'))}` : text;
}
