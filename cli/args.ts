// Flag parsing for the `tug` command: every flag has an environment twin (`--data-dir` ↔
// `TUG_DATA_DIR`), flags win over the environment, and unknown flags are errors.
import { parseArgs } from 'node:util';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  help: string;
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

export class UsageError extends Error {}

function envName(flag: string): string {
  return 'TUG_' + flag.toUpperCase().replace(/-/g, '_');
}

export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, env: NodeJS.ProcessEnv = process.env): { flags: Flags; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(spec).map(([k, s]) => [k, { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError.*?: /, ''));
  }
  const flags = { ...parsed.values } as Flags;
  for (const [name, s] of Object.entries(spec)) {
    if (flags[name] !== undefined) continue;
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== '') {
      flags[name] = s.type === 'boolean' ? fromEnv === 'true' || fromEnv === '1' : s.multiple ? fromEnv.split(',') : fromEnv;
    } else if (s.default !== undefined) {
      flags[name] = s.default;
    }
  }
  return { flags, positionals: parsed.positionals };
}

export function flagHelp(spec: Record<string, FlagSpec>): string {
  return Object.entries(spec)
    .map(([k, s]) => {
      const name = `${s.short ? `-${s.short}, ` : '    '}--${k}${s.type === 'string' ? ' VALUE' : ''}`;
      const def = s.default !== undefined && s.default !== '' ? ` (default ${s.default})` : '';
      return `  ${name.padEnd(30)} ${s.help}${def} [${envName(k)}]`;
    })
    .join('\n');
}
