import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@monitormed/common';
import { planAck, shouldSendAck } from '../ack/ack-mode.js';
import { DEFAULT_CHANNEL, loadChannels, matchChannel, type ChannelConfig } from '../channels/channels.js';
import { Hl7ProcessingError } from '../hl7/hl7-error.js';
import { FhirTransactionError } from './fhir-transaction-error.js';
import { loadPipelineConfig } from './pipeline-config.js';
import { readPatientKey } from './message-facts.js';
import { isTransientFailure, retryDelayMs } from './retry-policy.js';

const BACKOFF = { retryBaseMs: 1_000, retryMaxDelayMs: 60_000 };

void describe('retryDelayMs', () => {
  void it('doubles within the jitter range', () => {
    for (const [attempt, ceiling] of [
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [7, 60_000],
      [40, 60_000],
    ] as const) {
      assert.equal(
        retryDelayMs(attempt, BACKOFF, () => 0),
        ceiling / 2,
        `lowest delay of attempt ${attempt}`
      );
      assert.equal(
        retryDelayMs(attempt, BACKOFF, () => 0.999_999),
        ceiling,
        `highest delay of attempt ${attempt}`
      );
    }
  });
});

void describe('isTransientFailure', () => {
  const fhirError = (status: number | undefined): FhirTransactionError =>
    new FhirTransactionError({ ackCode: 'AE', errorCode: '207', text: 'test' }, status);

  void it('retries network, 408, 429 and 5xx', () => {
    for (const status of [undefined, 408, 429, 500, 503]) {
      assert.equal(isTransientFailure(fhirError(status)), true, `status ${String(status)}`);
    }
  });

  void it('does not retry other failures', () => {
    for (const status of [400, 404, 409, 412, 422]) {
      assert.equal(isTransientFailure(fhirError(status)), false, `status ${status}`);
    }
    const parseError = new Hl7ProcessingError({ ackCode: 'AR', errorCode: '100', text: 'bad' });
    assert.equal(isTransientFailure(parseError), false);
  });
});

void describe('ACK plan', () => {
  const header = (msh15: string, msh16: string): string[] => {
    const fields = ['MSH', '|', '^~\\&', 'APP', 'FAC', 'RCV', 'RFAC', '', '', 'ORU^R01', 'C1', 'P', '2.5.1'];
    fields[15] = msh15;
    fields[16] = msh16;
    return fields;
  };

  void it('chooses the mode', () => {
    assert.equal(planAck(DEFAULT_CHANNEL, header('', '')).mode, 'original');
    assert.equal(planAck(DEFAULT_CHANNEL, header('AL', '')).mode, 'enhanced');
    assert.equal(planAck(DEFAULT_CHANNEL, header('', 'ne')).mode, 'enhanced');
    assert.equal(planAck({ ...DEFAULT_CHANNEL, ackMode: 'enhanced' }, header('', '')).mode, 'enhanced');
    assert.equal(planAck({ ...DEFAULT_CHANNEL, ackMode: 'immediate' }, header('AL', 'AL')).mode, 'immediate');
    assert.equal(planAck(DEFAULT_CHANNEL, header('', 'ne')).applicationAckType, 'NE');
  });

  void it('honours table 0155 types', () => {
    const cases: [string, string, boolean][] = [
      ['AL', 'CA', true],
      ['AL', 'AE', true],
      ['NE', 'CA', false],
      ['NE', 'CR', false],
      ['ER', 'CA', false],
      ['ER', 'CE', true],
      ['ER', 'AR', true],
      ['SU', 'AA', true],
      ['SU', 'AE', false],
      ['', 'AE', true],
    ];
    for (const [type, code, expected] of cases) {
      assert.equal(shouldSendAck(type, code as 'CA'), expected, `${type} with ${code}`);
    }
  });
});

void describe('channels', () => {
  const channels: ChannelConfig[] = [
    {
      name: 'lab',
      sendingApplication: 'LAB*',
      sendingFacility: 'NORTH',
      ackMode: 'enhanced',
      duplicatePolicy: 'correction',
    },
    { name: 'any-cxr', sendingApplication: 'CXRAI', ackMode: 'immediate', duplicatePolicy: 'reject' },
  ];

  void it('matches the first channel', () => {
    assert.equal(matchChannel(channels, 'LAB-7', 'NORTH').name, 'lab');
    assert.equal(matchChannel(channels, 'lab', 'north').name, 'lab');
    assert.equal(matchChannel(channels, 'LAB-7', 'SOUTH').name, 'default');
    assert.equal(matchChannel(channels, 'CXRAI', 'SOUTH').name, 'any-cxr');
    assert.equal(matchChannel([], 'X', 'Y'), DEFAULT_CHANNEL);
  });

  void it('reads HL7_CHANNELS', () => {
    const [channel] = loadChannels({
      HL7_CHANNELS: '[{"name":"lab","ackMode":"enhanced","returnAddress":"127.0.0.1:2577"}]',
    });
    assert.deepEqual(channel, {
      name: 'lab',
      ackMode: 'enhanced',
      duplicatePolicy: 'reject',
      returnAddress: { host: '127.0.0.1', port: 2577 },
    });
    assert.deepEqual(loadChannels({}), []);
  });

  void it('rejects invalid channel settings', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ HL7_CHANNELS: '{' }, /HL7_CHANNELS is not valid JSON/],
      [{ HL7_CHANNELS: '{}' }, /must be a JSON array/],
      [{ HL7_CHANNELS: '[{"ackMode":"fast"}]' }, /\[0\]\.ackMode must be original, enhanced or immediate/],
      [{ HL7_CHANNELS: '[{"duplicatePolicy":"keep"}]' }, /duplicatePolicy must be reject or correction/],
      [{ HL7_CHANNELS: '[{"returnAddress":"localhost"}]' }, /returnAddress must be "host:port"/],
      [{ HL7_CHANNELS: '[]', HL7_CHANNELS_FILE: 'x.json' }, /either HL7_CHANNELS or HL7_CHANNELS_FILE/],
      [{ HL7_CHANNELS_FILE: '/nonexistent/channels.json' }, /Cannot read HL7_CHANNELS_FILE/],
    ];
    for (const [env, expected] of cases) {
      assert.throws(
        () => loadChannels(env),
        (err: unknown) => err instanceof ConfigError && expected.test(err.message)
      );
    }
  });
});

void describe('loadPipelineConfig', () => {
  void it('reads HL7_ACCEPT_PRIORITY_PER_S', () => {
    assert.equal(loadPipelineConfig({}).acceptPriorityPerSecond, 200);
    assert.equal(loadPipelineConfig({ HL7_ACCEPT_PRIORITY_PER_S: '0' }).acceptPriorityPerSecond, 0);
    assert.equal(loadPipelineConfig({ HL7_ACCEPT_PRIORITY_PER_S: '50' }).acceptPriorityPerSecond, 50);
  });

  void it('names the variable to fix', () => {
    for (const raw of ['-1', '1.5', 'fast']) {
      let error: unknown;
      try {
        loadPipelineConfig({ HL7_ACCEPT_PRIORITY_PER_S: raw });
      } catch (err) {
        error = err;
      }

      assert.ok(error instanceof ConfigError, `expected a ConfigError for ${raw}`);
      assert.ok(error.message.includes(`HL7_ACCEPT_PRIORITY_PER_S="${raw}"`));
      assert.ok(error.message.includes('at least 0'));
    }
  });
});

void describe('readPatientKey', () => {
  void it('reads PID-3 id and authority', () => {
    const text = 'MSH|^~\\&|A|F\rPID|1||123^^^HOSP&1.2&ISO^MR~999^^^OTHER||Doe\rOBX|1';
    assert.equal(readPatientKey(text), '123^HOSP&1.2&ISO');
  });

  void it('follows the declared delimiters', () => {
    assert.equal(readPatientKey('MSH#*~\\&#A\nPID#1##77*X*Y*AUTH'), '77^AUTH');
  });

  void it('returns undefined without PID-3', () => {
    assert.equal(readPatientKey('MSH|^~\\&|A\rPID|1||'), undefined);
    assert.equal(readPatientKey('MSH|^~\\&|A\rOBX|1'), undefined);
  });
});
