// Kubernetes resource quantities (`100m`, `128Mi`, `1.5`, `1e3`) turned into plain numbers,
// so CPU and memory can be compared and summed: `100m` is 0.1 (cores), `128Mi` is 134217728 (bytes).

// <signedNumber><suffix>, where the suffix is a binary SI unit, a decimal SI unit or a decimal exponent.
// The exponent alternative is tried before the bare `E` (exa), so `1E3` is 1000 and `1E` is 10^18.
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|([numkMGTPE]))?$/;

/** The regular expression Kubernetes quotes when a quantity does not parse. */
export const QUANTITY_FORMAT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

const BINARY_POWER: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_EXPONENT: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/**
 * Parses a Kubernetes quantity into a number of base units (cores, bytes, ...).
 * Throws an Error naming the value and the accepted forms when it is not a quantity.
 */
export function parseQuantity(s: string | number): number {
  if (typeof s === 'number') {
    if (Number.isFinite(s)) return s;
    throw new Error(`invalid quantity ${String(s)}: a quantity must be a finite number`);
  }
  if (typeof s !== 'string') {
    throw new Error(`invalid quantity ${JSON.stringify(s)}: a quantity must be a string such as "100m" or "128Mi", or a number`);
  }
  const m = QUANTITY.exec(s);
  if (!m) {
    throw new Error(
      `invalid quantity "${s}": quantities must match the regular expression '${QUANTITY_FORMAT}' ` +
        `(e.g. "100m", "0.5", "128Mi", "1G", "1e3")`,
    );
  }
  const [, digits, binary, exponent, decimal] = m;
  if (binary) return Number(digits) * 2 ** BINARY_POWER[binary];
  // Scaling through the exponent of a decimal literal keeps `100m` exactly 0.1 rather than 0.1000000001.
  const power = exponent !== undefined ? Number(exponent) : decimal ? DECIMAL_EXPONENT[decimal] : 0;
  const value = Number(`${digits}e${power}`);
  if (!Number.isFinite(value)) throw new Error(`invalid quantity "${s}": the value is too large`);
  return value;
}

/** True when `parseQuantity` would accept the value. */
export function isValidQuantity(s: unknown): boolean {
  if (typeof s === 'number') return Number.isFinite(s);
  if (typeof s !== 'string') return false;
  try {
    parseQuantity(s);
    return true;
  } catch {
    return false;
  }
}
