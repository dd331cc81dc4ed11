// The schema tables the protobuf decoder reads (protobuf.ts): field numbers, names and types of
// each message as in the upstream generated.proto files, with the apimachinery meta/v1 messages
// every kind shares. Kinds live in protobuf-kinds.ts (core, apps) and protobuf-auth.ts.

export type Scalar = 'string' | 'bytes' | 'int32' | 'int64' | 'bool';
export type Special = 'time' | 'quantity' | 'intOrString';
export type MapValue = 'string' | 'bytes' | 'quantity';

export interface Field {
  name: string;
  type: Scalar | Special | { message: MessageSchema } | { map: MapValue };
  repeated?: boolean;
  /** A Go pointer field: present on the wire only when set, so a zero is meaningful. */
  keepZero?: boolean;
  /** An embedded Go struct (`json:",inline"`): its fields land in the parent object. */
  inline?: boolean;
}

export type MessageSchema = Readonly<Record<number, Field>>;

export const str = (name: string): Field => ({ name, type: 'string' });
export const strs = (name: string): Field => ({ name, type: 'string', repeated: true });
export const int32 = (name: string, keepZero = false): Field => ({ name, type: 'int32', keepZero });
export const int64 = (name: string, keepZero = false): Field => ({ name, type: 'int64', keepZero });
export const bool = (name: string, keepZero = false): Field => ({ name, type: 'bool', keepZero });
export const msg = (name: string, message: MessageSchema, repeated = false): Field => ({ name, type: { message }, repeated });
export const map = (name: string, value: MapValue): Field => ({ name, type: { map: value } });

// apimachinery pkg/apis/meta/v1
export const OwnerReference: MessageSchema = {
  1: str('kind'),
  3: str('name'),
  4: str('uid'),
  5: str('apiVersion'),
  6: bool('controller', true),
  7: bool('blockOwnerDeletion', true),
};

export const ObjectMeta: MessageSchema = {
  1: str('name'),
  2: str('generateName'),
  3: str('namespace'),
  5: str('uid'),
  6: str('resourceVersion'),
  7: int64('generation'),
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: int64('deletionGracePeriodSeconds', true),
  11: map('labels', 'string'),
  12: map('annotations', 'string'),
  13: msg('ownerReferences', OwnerReference, true),
  14: strs('finalizers'),
};

export const LabelSelectorRequirement: MessageSchema = { 1: str('key'), 2: str('operator'), 3: strs('values') };
export const LabelSelector: MessageSchema = {
  1: map('matchLabels', 'string'),
  2: msg('matchExpressions', LabelSelectorRequirement, true),
};

const Preconditions: MessageSchema = { 1: str('uid'), 2: str('resourceVersion') };
export const DeleteOptions: MessageSchema = {
  1: int64('gracePeriodSeconds', true),
  2: msg('preconditions', Preconditions),
  3: bool('orphanDependents', true),
  4: str('propagationPolicy'),
  5: strs('dryRun'),
};
