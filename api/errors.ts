// One registry of API errors. Every error a user sees is a Kubernetes `Status` with a stable
// reason, the object it concerns, and (for Invalid) a cause per bad field saying what to do.

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Success' | 'Failure';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Status['details'],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

function splitQualified(qualified: string): { kind: string; group?: string } {
  const dot = qualified.indexOf('.');
  return dot < 0 ? { kind: qualified } : { kind: qualified.slice(0, dot), group: qualified.slice(dot + 1) };
}

export const errors = {
  notFound(qualified: string, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualified} "${name}" not found`, { name, ...splitQualified(qualified) });
  },
  alreadyExists(qualified: string, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualified} "${name}" already exists`, { name, ...splitQualified(qualified) });
  },
  conflict(qualified: string, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
    return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${name}": ${why}`, { name, ...splitQualified(qualified) });
  },
  invalid(kind: string, name: string, causes: StatusCause[], group?: string): ApiError {
    const text = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
    const summary = text.length === 1 ? text[0] : `[${text.join(', ')}]`;
    return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, {
      name,
      kind,
      ...(group ? { group } : {}),
      causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })),
    });
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  unauthorized(message = 'Unauthorized: a valid bearer token is required (see the kubeconfig that `tug control` wrote)'): ApiError {
    return new ApiError(401, 'Unauthorized', message);
  },
  forbidden(message: string): ApiError {
    return new ApiError(403, 'Forbidden', message);
  },
  notFoundPath(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  },
  methodNotAllowed(method: string, what: string): ApiError {
    return new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource: ${method} ${what}`);
  },
  gone(revision: number | string, oldest: number | string): ApiError {
    return new ApiError(410, 'Expired', `too old resource version: ${revision} (${oldest})`);
  },
  requestEntityTooLarge(limit: number): ApiError {
    return new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than the ${limit}-byte limit; split the manifest into smaller objects`);
  },
  unsupportedMediaType(type: string, supported: string[]): ApiError {
    return new ApiError(415, 'UnsupportedMediaType', `the body of type "${type}" is not supported here; send one of: ${supported.join(', ')}`);
  },
  tooManyRequests(message: string, retryAfterSeconds = 1): ApiError {
    return new ApiError(429, 'TooManyRequests', message, { retryAfterSeconds });
  },
  internal(message: string, cause?: unknown): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, undefined, { cause });
  },
};

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Turns anything thrown into an ApiError; unknown errors become 500 with their message kept. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return errors.internal(message, e);
}
