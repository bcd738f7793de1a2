/** Thrown at startup when the MLLP TLS settings are incomplete or a certificate or key file is unusable. */
export class TlsConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsConfigError';
  }
}
