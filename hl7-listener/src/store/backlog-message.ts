import { BSON, type ObjectId } from 'mongodb';
import type { AckModeSetting } from '../channels/channels.js';
import type { QueueState, QueuedMessage, WorkMessage } from './message-types.js';

/**
 * The fields of a message that {@link BacklogMessage} keeps packed, as they are serialized. A field
 * whose value is undefined is left out.
 */
interface PackedWork {
  raw: Uint8Array;
  header: string[];
  controlId?: string;
  applicationAckType?: string;
  sendingApplication?: string;
  sendingFacility?: string;
}

const OPTIONAL_TEXT_FIELDS = [
  'controlId',
  'applicationAckType',
  'sendingApplication',
  'sendingFacility',
] as const;

function isPackedWork(value: BSON.Document): value is PackedWork {
  const { raw, header } = value;
  return (
    raw instanceof Uint8Array &&
    Array.isArray(header) &&
    header.every((field: unknown) => typeof field === 'string') &&
    OPTIONAL_TEXT_FIELDS.every((name) => value[name] === undefined || typeof value[name] === 'string')
  );
}

/** Returns a Buffer over the same memory as `bytes`, without copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A queued message as the worker keeps it until its outcome is stored, possibly for a long time when
 * the FHIR server is slow or down.
 *
 * The message bytes and the fields read from MSH are kept packed in one BSON document, and their
 * getters decode it on each read. Scheduling reads only the other fields. Unpacked, each waiting
 * message kept about 30 heap objects, and each major garbage collection marks all of them. With tens
 * of thousands of messages waiting, that marking took both CPUs of a 2-core machine long enough to
 * delay ACKs.
 *
 * The BSON bytes are kept as a Latin-1 string, one character per byte, because V8 marks a flat string
 * without visiting its contents. A Buffer would not do: Node.js cuts buffers under 4 KB from shared
 * 8 KB pools, and one kept slice keeps its whole pool, with the garbage around it, in memory.
 *
 * Every field is set in the constructor, in one order, so all instances share one V8 hidden class.
 */
export class BacklogMessage implements QueuedMessage {
  _id: ObjectId;
  patientKey: string;
  receivedAt: Date;
  segment: string;
  status: QueueState['status'];
  attempts: number;
  releasedAttempt: number;
  claimedBy: string | undefined;
  leaseUntil: Date;
  nextAttemptAt: Date;
  lastError: string | undefined;
  pendingAckSentAt: Date | undefined;
  replayCount: number | undefined;
  done: boolean;
  truncated: boolean | undefined;
  version: number;
  ackMode: AckModeSetting;
  channel: string;
  /** The BSON bytes of {@link PackedWork}, one character per byte. */
  private readonly packed: string;

  /** Joins the queue state and the work fields of one message. Where both have a field, `state` wins. */
  constructor(state: QueueState, work: WorkMessage) {
    this._id = state._id;
    this.patientKey = state.patientKey;
    this.receivedAt = state.receivedAt;
    this.segment = state.segment;
    this.status = state.status;
    this.attempts = state.attempts;
    this.releasedAttempt = state.releasedAttempt;
    this.claimedBy = state.claimedBy;
    this.leaseUntil = state.leaseUntil;
    this.nextAttemptAt = state.nextAttemptAt;
    this.lastError = state.lastError;
    this.pendingAckSentAt = state.pendingAckSentAt;
    this.replayCount = state.replayCount;
    this.done = state.done;

    this.truncated = work.truncated;
    this.version = work.version;
    this.ackMode = work.ackMode;
    this.channel = work.channel;
    const packed: PackedWork = {
      raw: Buffer.from(work.rawBase64, 'base64'),
      header: work.header,
      controlId: work.controlId,
      applicationAckType: work.applicationAckType,
      sendingApplication: work.sendingApplication,
      sendingFacility: work.sendingFacility,
    };
    this.packed = asBuffer(BSON.serialize(packed, { ignoreUndefined: true })).toString('latin1');
  }

  private unpack(): PackedWork {
    const work = BSON.deserialize(Buffer.from(this.packed, 'latin1'), { promoteBuffers: true });
    if (!isPackedWork(work)) {
      // Only the constructor writes `packed`, so this means a bug or a changed BSON library.
      throw new TypeError(
        `Invalid packed fields in queued message ${this._id.toHexString()}: report this listener bug`
      );
    }
    return work;
  }

  /** The message bytes as received, base64-encoded, decoded from the packed form. */
  get rawBase64(): string {
    return asBuffer(this.unpack().raw).toString('base64');
  }

  /** MSH fields by sequence number, decoded from the packed form. Each read returns a new array. */
  get header(): string[] {
    return this.unpack().header;
  }

  get controlId(): string | undefined {
    return this.unpack().controlId;
  }

  get applicationAckType(): string | undefined {
    return this.unpack().applicationAckType;
  }

  get sendingApplication(): string | undefined {
    return this.unpack().sendingApplication;
  }

  get sendingFacility(): string | undefined {
    return this.unpack().sendingFacility;
  }
}
