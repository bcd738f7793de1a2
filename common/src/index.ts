export * from './config.js';
export * from './logger.js';
export * from './fhir-codes.js';
export * from './queues.js';
export * from './mongo.js';
export * from './fhir-client.js';
export * from './models.js';
export * from './devices.js';
