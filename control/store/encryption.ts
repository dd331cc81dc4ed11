// Encryption at rest, configured as kube-apiserver's --encryption-provider-config is: an
// EncryptionConfiguration (apiserver.config.k8s.io/v1) names the resources to encrypt and an
// ordered list of providers. The first provider writes; every provider can read what it wrote
// (told apart by the prefix each stored value starts with), so keys can be added and rotated
// without a moment when anything is unreadable. Providers: aesgcm (AES-256-GCM, a random 96-bit
// nonce per write, the object's key as additional data) and identity (plain text).
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import type { ObjectKey } from './types.js';

const AESGCM_PREFIX = 'k8s:enc:aesgcm:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface AesGcmKey {
  name: string;
  /** 32 bytes (AES-256); Kubernetes also accepts 16 or 24. */
  secret: Buffer;
}

type Provider = { aesgcm: AesGcmKey[] } | { identity: true };

export interface EncryptionConfig {
  /** Qualified resource names (`secrets`, `configmaps`, `widgets.example.com`) and their providers. */
  rules: { resources: string[]; providers: Provider[] }[];
}

function configError(file: string, message: string): Error {
  return new Error(`encryption config ${file}: ${message}`);
}

/** Reads an EncryptionConfiguration; throws an Error naming the file and the field at fault. */
export function parseEncryptionConfig(text: string, file = 'the encryption config'): EncryptionConfig {
  let doc: any;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw configError(file, `not YAML: ${(e as Error).message}`);
  }
  if (doc?.kind !== 'EncryptionConfiguration' || doc?.apiVersion !== 'apiserver.config.k8s.io/v1') throw configError(file, 'must be apiVersion apiserver.config.k8s.io/v1, kind EncryptionConfiguration');
  if (!Array.isArray(doc.resources) || !doc.resources.length) throw configError(file, 'resources: at least one entry is required');
  const rules = doc.resources.map((entry: any, i: number) => {
    if (!Array.isArray(entry?.resources) || !entry.resources.length) throw configError(file, `resources[${i}].resources: list the resources to encrypt (for example [secrets])`);
    if (!Array.isArray(entry.providers) || !entry.providers.length) throw configError(file, `resources[${i}].providers: at least one provider is required`);
    const providers = entry.providers.map((p: any, j: number): Provider => {
      const where = `resources[${i}].providers[${j}]`;
      if (p && 'identity' in p) return { identity: true };
      if (!p?.aesgcm) throw configError(file, `${where}: only aesgcm and identity providers are supported`);
      const keys = (p.aesgcm.keys ?? []).map((k: any, n: number) => {
        const secret = Buffer.from(String(k?.secret ?? ''), 'base64');
        if (!k?.name || ![16, 24, 32].includes(secret.length)) throw configError(file, `${where}.aesgcm.keys[${n}]: needs a name and a base64 secret of 16, 24 or 32 bytes`);
        return { name: String(k.name), secret };
      });
      if (!keys.length) throw configError(file, `${where}.aesgcm.keys: at least one key is required`);
      return { aesgcm: keys };
    });
    return { resources: entry.resources.map(String), providers };
  });
  return { rules };
}

export function encryptionConfigYaml(config: EncryptionConfig): string {
  return YAML.stringify({
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'EncryptionConfiguration',
    resources: config.rules.map((r) => ({
      resources: r.resources,
      providers: r.providers.map((p) => ('identity' in p ? { identity: {} } : { aesgcm: { keys: p.aesgcm.map((k) => ({ name: k.name, secret: k.secret.toString('base64') })) } })),
    })),
  });
}

/** A fresh AES-256 key named after the moment it was made. */
export function newAesGcmKey(now = new Date()): AesGcmKey {
  return { name: `key-${now.toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`, secret: randomBytes(32) };
}

/** The config tugboat starts with: Secrets encrypted with a new key, plain text still readable. */
export function defaultEncryptionConfig(): EncryptionConfig {
  return { rules: [{ resources: ['secrets'], providers: [{ aesgcm: [newAesGcmKey()] }, { identity: true }] }] };
}

/** The config in `file`, made with a new key (0600) when there is none. */
export function loadOrCreateEncryptionConfig(file: string): EncryptionConfig {
  if (!existsSync(file)) {
    const config = defaultEncryptionConfig();
    writeFileSync(file, encryptionConfigYaml(config), { mode: 0o600 });
    return config;
  }
  chmodSync(file, 0o600);
  return parseEncryptionConfig(readFileSync(file, 'utf8'), file);
}

/** The config with a new key put first, so it writes from now on; the old keys still read. */
export function withNewKey(config: EncryptionConfig, key = newAesGcmKey()): EncryptionConfig {
  return {
    rules: config.rules.map((r) => {
      const [first, ...rest] = r.providers;
      if (first && 'aesgcm' in first) return { ...r, providers: [{ aesgcm: [key, ...first.aesgcm] }, ...rest] };
      return { ...r, providers: [{ aesgcm: [key] }, ...r.providers] };
    }),
  };
}

function keyPath(key: ObjectKey): Buffer {
  return Buffer.from(`/${key.resource}/${key.namespace}/${key.name}`);
}

/** Encrypts and decrypts the stored form of objects as the config says. */
export class ValueTransformer {
  constructor(private config: EncryptionConfig) {}

  /** Encrypts with `config` from now on (after a rotation put a new key first). */
  use(config: EncryptionConfig): void {
    this.config = config;
  }

  /** The resources the config encrypts. */
  get resources(): string[] {
    return this.config.rules.flatMap((r) => r.resources);
  }

  private providersFor(resource: string): Provider[] | undefined {
    return this.config.rules.find((r) => r.resources.includes(resource) || r.resources.includes('*.*'))?.providers;
  }

  /** The stored form of an object's JSON. */
  toStorage(key: ObjectKey, json: string): string {
    const writer = this.providersFor(key.resource)?.[0];
    if (!writer || 'identity' in writer) return json;
    const { name, secret } = writer.aesgcm[0];
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(`aes-${secret.length * 8}-gcm` as CipherGCMTypes, secret, nonce);
    cipher.setAAD(keyPath(key));
    const sealed = Buffer.concat([nonce, cipher.update(json, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${AESGCM_PREFIX}${name}:${sealed.toString('base64')}`;
  }

  /** An object's JSON from its stored form; throws when no configured key can open it. */
  fromStorage(key: ObjectKey, stored: string): string {
    if (!stored.startsWith(AESGCM_PREFIX)) return stored;
    const rest = stored.slice(AESGCM_PREFIX.length);
    const colon = rest.indexOf(':');
    const name = rest.slice(0, colon);
    const keys = (this.providersFor(key.resource) ?? this.config.rules.flatMap((r) => r.providers)).flatMap((p) => ('aesgcm' in p ? p.aesgcm : []));
    const found = keys.find((k) => k.name === name);
    if (!found) throw new Error(`${key.resource} ${key.namespace}/${key.name} is encrypted with key "${name}", which the encryption config no longer has`);
    const sealed = Buffer.from(rest.slice(colon + 1), 'base64');
    const decipher = createDecipheriv(`aes-${found.secret.length * 8}-gcm` as CipherGCMTypes, found.secret, sealed.subarray(0, NONCE_BYTES));
    decipher.setAAD(keyPath(key));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  }

  /** Whether a stored value was not written by the current writer (so a rotation rewrites it). */
  stale(key: ObjectKey, stored: string): boolean {
    const writer = this.providersFor(key.resource)?.[0];
    if (!writer || 'identity' in writer) return stored.startsWith(AESGCM_PREFIX);
    return !stored.startsWith(`${AESGCM_PREFIX}${writer.aesgcm[0].name}:`);
  }
}
