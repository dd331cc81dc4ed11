// How the `tug` command prints a failure, the way kubectl does: API errors as
// `Error from server (Reason): message`, everything else as `error: message`.
import { isApiError } from '../api/errors.js';

export function formatError(e: unknown): string {
  if (isApiError(e)) {
    if (e.code === 401) return `error: You must be logged in to the server (${e.message})`;
    if (e.code === 422) return `The ${e.message}`;
    return `Error from server (${e.reason}): ${e.message}`;
  }
  return `error: ${e instanceof Error ? e.message : String(e)}`;
}
