// Reading an accepted connection into a buffer of our own. `net.connect` takes an `onread`
// option (bytes go straight into the caller's buffer and to a callback, skipping the Readable
// machinery and a new Buffer per read), but net.Server makes its sockets itself and offers no
// such option. readInto moves the accepted socket's handle into a new Socket made with `onread`,
// before any byte has been read (it runs in the 'connection' callback; reads land in a later
// turn of the loop), through lib/internals.ts. Where Node's internals differ from what this
// expects (or are switched off), the socket stays as it is and its 'data' events feed the same
// callback, so callers need one code path only.
import { Socket, type OnReadOpts } from 'node:net';
import { takeHandle } from '../lib/internals.js';

/** Bytes read at a time into a connection's buffer: what each direction holds (HAProxy's bufsize). */
export const READ_BUFFER_BYTES = 16 * 1024;

/** Most read buffers kept from closed connections for new ones (1 MiB of the default size). */
const SPARE_BUFFERS = 64;
const spares: Buffer[] = [];

/**
 * A reusable read buffer: handed out again while every write of what it held completed at once.
 * Buffers of the default size come from connections that closed (see `release`) where there are
 * any: a new connection then costs no allocation.
 */
export class ReadBuffer {
  private buffer: Buffer | undefined;
  private held = false;

  constructor(private readonly bytes = READ_BUFFER_BYTES) {}

  /** The buffer for the next read (`onread.buffer`). */
  readonly next = (): Buffer => {
    if (this.buffer === undefined || this.held) {
      this.buffer = (this.bytes === READ_BUFFER_BYTES ? spares.pop() : undefined) ?? Buffer.allocUnsafe(this.bytes);
      this.held = false;
    }
    return this.buffer;
  };

  /** What was read stays referenced (a write is queued, or a copy is kept): the next read gets a fresh buffer. */
  hold(): void {
    this.held = true;
  }

  /**
   * The connection is over and nothing reads into this again: the buffer goes to a later
   * connection, unless what it holds is still referenced.
   */
  release(): void {
    const buffer = this.buffer;
    this.buffer = undefined;
    if (buffer !== undefined && !this.held && buffer.length === READ_BUFFER_BYTES && spares.length < SPARE_BUFFERS) spares.push(buffer);
    this.held = false;
  }
}

/** The `bytes` an `onread` callback got at the start of `buffer`, as a Buffer over the same memory. */
export function bytesRead(bytes: number, buffer: Uint8Array): Buffer {
  return Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
}

/**
 * The socket that now carries `accepted`'s connection, reading through `onread`. Call it
 * synchronously in the server's 'connection' callback; `accepted` is closed without touching
 * the connection.
 */
export function readInto(accepted: Socket, onread: OnReadOpts, allowHalfOpen: boolean): Socket {
  const untouched = !accepted.destroyed && accepted.readableLength === 0 && accepted.listenerCount('data') === 0;
  const handle = untouched ? takeHandle(accepted) : undefined;
  if (!handle) {
    accepted.on('data', (chunk: Buffer) => {
      if (onread.callback(chunk.length, chunk) === false) accepted.pause();
    });
    accepted.resume(); // a listener that pauses on connect left it paused
    return accepted;
  }
  // Without a handle, destroy only settles the server's connection count and emits 'close'.
  accepted.destroy();
  return new Socket({ handle, onread, allowHalfOpen, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
}

/** A socket around an accepted connection's bare descriptor (a native listener's), reading through `onread` from the start. */
export function socketOnDescriptor(fd: number, onread: OnReadOpts, allowHalfOpen: boolean): Socket {
  return new Socket({ fd, onread, allowHalfOpen, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
}
