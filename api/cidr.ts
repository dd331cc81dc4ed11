// IPv4 CIDR arithmetic shared by control (ClusterIPs, node pod CIDRs) and the node (pod
// addresses, routes): addresses as unsigned 32-bit numbers.

export interface Cidr {
  /** The first address, as a number. */
  base: number;
  /** How many addresses it holds. */
  size: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** An IPv4 CIDR of any prefix length (0 to 32), or undefined when `text` is not one. */
export function tryParseCidr(text: string): Cidr | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32 || m[1].split('.').some((o) => Number(o) > 255)) return undefined;
  const size = 2 ** (32 - Number(m[2]));
  return { base: ipToInt(m[1]) - (ipToInt(m[1]) % size), size, prefix: Number(m[2]) };
}

/**
 * A CIDR that addresses are handed out from (so at most /30); `what` names it in the error for a
 * bad one.
 */
export function parseCidr(cidr: string, what = 'service CIDR', example = '127.77.0.0/16'): Cidr {
  const parsed = tryParseCidr(cidr);
  if (!parsed || parsed.prefix > 30) throw new Error(`invalid ${what} "${cidr}": expected an IPv4 CIDR such as ${example}`);
  return parsed;
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

/** Whether two parsed CIDRs share an address. */
export function cidrsOverlap(a: { base: number; size: number }, b: { base: number; size: number }): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= base && n < base + size;
}

/**
 * The CIDRs that together cover `outer` except `hole` (which lies inside it): one per prefix
 * length between the two, each the half of its parent that does not hold the hole.
 */
export function cidrMinus(outer: Cidr, hole: Cidr): Cidr[] {
  if (!cidrsOverlap(outer, hole)) return [outer];
  if (hole.prefix <= outer.prefix) return [];
  const out: Cidr[] = [];
  let parent = outer;
  while (parent.prefix < hole.prefix) {
    const size = parent.size / 2;
    const low = { base: parent.base, size, prefix: parent.prefix + 1 };
    const high = { base: parent.base + size, size, prefix: parent.prefix + 1 };
    const [inside, outside] = cidrsOverlap(low, hole) ? [low, high] : [high, low];
    out.push(outside);
    parent = inside;
  }
  return out.sort((a, b) => a.base - b.base);
}
