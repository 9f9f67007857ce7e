/**
 * The only errors callers catch. Misuse throws built-ins (`TypeError`,
 * `RangeError`) instead.
 *
 * @module
 */

/**
 * A connection could not be made or was lost; `message` is the one line to
 * show a person (`cannot connect to host:7878: connection refused`), and
 * `cause` keeps the original error.
 */
export class ConnectionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}
