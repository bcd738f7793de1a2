/**
 * Sets the demo's default log level. The services run in the demo's process and share its stderr with
 * the progress lines, so they log warnings and errors only unless LOG_LEVEL is set. Some
 * modules create their logger when they load, so `scripts/demo.ts` imports this module first.
 */
process.env['LOG_LEVEL'] ??= 'warn';

export {};
