// Batched UDP (lib/native/udpbatch.c): recvmmsg takes a batch of queries, one call answers them in
// place, sendmmsg sends the answers. Built by `npm install` (node-gyp); where it did not build
// (no compiler, not Linux) `loadUdpBatch` says why and the server stays on dgram.
import { createRequire } from 'node:module';

interface Native {
  BATCH: number;
  SLOT: number;
  open(host: string, port: number, ipv6: boolean, input: Uint8Array, output: Uint8Array, lens: Int32Array, onbatch: (count: number) => void): object;
  port(handle: object): number;
  peer(handle: object, i: number): string;
  sendTo(handle: object, bytes: Uint8Array, port: number, address: string): number;
  close(handle: object): void;
}

/**
 * Answers query `i` of a batch: `query` is a view of the received bytes, valid only during the
 * call (copy what must outlive it). Write the answer into `out` at `offset` and return its
 * length, or return 0 to send nothing now (an answer can follow through `sendTo`).
 */
export type BatchHandler = (query: Buffer, i: number, out: Buffer, offset: number) => number;

export interface BatchedUdp {
  readonly port: number;
  /** Where query `i` of the batch being answered came from; only during the handler. */
  peer(i: number): { address: string; port: number };
  /** Sends one datagram now; returns the errno of a datagram not sent, else 0. */
  sendTo(bytes: Uint8Array, port: number, address: string): number;
  close(): void;
}

/**
 * Opens a socket bound to `host:port`; a handler that throws loses that one answer, and `onError`
 * hears why. An `onError` that throws loses the rest of that batch, and the native module writes
 * what it threw to stderr; the socket goes on.
 */
export type OpenBatched = (host: string, port: number, handler: BatchHandler, onError: (e: unknown) => void) => BatchedUdp;

export type UdpBatchLoad = { ok: true; open: OpenBatched } | { ok: false; reason: string };

let loaded: UdpBatchLoad | undefined;

/** The native module, loaded once; `reason` says why it is not available. */
export function loadUdpBatch(): UdpBatchLoad {
  if (loaded) return loaded;
  try {
    const native = createRequire(import.meta.url)('../../lib/native/build/Release/udpbatch.node') as Native;
    loaded = { ok: true, open: (host, port, handler, onError) => openBatched(native, host, port, handler, onError) };
  } catch (e) {
    loaded = { ok: false, reason: (e as Error).message.split('\n')[0] };
  }
  return loaded;
}

function openBatched(native: Native, host: string, port: number, handler: BatchHandler, onError: (e: unknown) => void): BatchedUdp {
  const { BATCH, SLOT } = native;
  const input = Buffer.alloc(BATCH * SLOT);
  const output = Buffer.alloc(BATCH * SLOT);
  const lens = new Int32Array(2 * BATCH);
  const onbatch = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const offset = i * SLOT;
      try {
        lens[BATCH + i] = handler(input.subarray(offset, offset + lens[i]), i, output, offset);
      } catch (e) {
        lens[BATCH + i] = 0;
        onError(e);
      }
    }
  };
  const handle = native.open(host, port, host.includes(':'), input, output, lens, onbatch);
  let closed = false;
  return {
    port: native.port(handle),
    peer(i) {
      const text = native.peer(handle, i);
      const space = text.lastIndexOf(' ');
      return { address: text.slice(0, space), port: Number(text.slice(space + 1)) };
    },
    sendTo: (bytes, toPort, address) => (closed ? 9 /* EBADF */ : native.sendTo(handle, bytes, toPort, address)),
    close() {
      closed = true;
      native.close(handle);
    },
  };
}
