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

/**
 * A listener could not be bound; `message` is the one line to show
 * (`cannot listen on 127.0.0.1:7878: address already in use`), and `cause`
 * keeps the original error.
 */
export class ListenError extends Error {
  /** The address that could not be bound, as `host:port`. */
  readonly address: string;

  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(`cannot listen on ${address}: ${reason}`, options);
    this.name = "ListenError";
    this.address = address;
  }
}

/**
 * A TLS certificate or key cannot be used; `message` is the one line to
 * show, naming the file when there is one
 * (`key /etc/parley/key.pem does not match certificate /etc/parley/cert.pem`),
 * and `cause` keeps the original error.
 */
export class CertificateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateError";
  }
}
