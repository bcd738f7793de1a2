/** Thrown for scenario options that cannot be simulated, or when there are no patients to simulate. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}
