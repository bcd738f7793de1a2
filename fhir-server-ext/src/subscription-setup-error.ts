/** Thrown when the rest-hook Subscription cannot be created on the FHIR server or never becomes active. */
export class SubscriptionSetupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SubscriptionSetupError';
  }
}
