// Paths of tugboat's own API beside Kubernetes' (served by control, used by the CLI and nodes).

/** Where `tug secrets rotate` asks control to rotate its encryption key. */
export const ROTATE_PATH = '/tugboat/encryption/rotate';
/** Where `tug ca rotate PHASE` asks control to take a CA rotation one step. */
export const CA_ROTATE_PATH = '/tugboat/ca/rotate';
/** The PEM bundle of trusted CAs (the signing one first), for nodes to follow a rotation; any authenticated caller. */
export const CA_BUNDLE_PATH = '/tugboat/ca/bundle';
