/** Thrown when an alert rules file cannot be read or a rule is invalid; the message names the rule and field. */
export class AlertRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlertRuleError';
  }
}
