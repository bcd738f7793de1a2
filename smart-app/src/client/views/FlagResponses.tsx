/**
 * The "Acknowledge" and "Override" buttons of each Flag on an AI result, the dialog that records the
 * response through `Flag/{id}/$respond`, and the recorded response once there is one.
 */
import { useEffect, useId, useRef, useState, type SyntheticEvent } from 'react';
import { FLAG_RESPONSE_REASONS, type FlagResponseCode } from '@monitormed/common/flag-response';
import type { SmartClient } from '../fhir.js';
import type { FlagResponse, ResultFlag } from '../results.js';
import { describeFailure } from '../data/inventory.js';
import { respondToFlag } from '../data/respond-flag.js';
import { formatDateTime } from '../format.js';

const RESPONSE_NAMES: Record<FlagResponseCode, string> = {
  acknowledge: 'Acknowledged',
  override: 'Overridden',
};

function RecordedResponse({ recorded }: { recorded: FlagResponse }) {
  return (
    <p className="flag-response" role="status">
      <strong>{RESPONSE_NAMES[recorded.response]}</strong>
      {recorded.reason === undefined ? null : <> ({recorded.reason})</>}
      {' by '}
      {recorded.author ?? 'unknown clinician'} on {formatDateTime(recorded.time)}
      {recorded.comment === undefined ? null : <>: “{recorded.comment}”</>}
    </p>
  );
}

interface DialogProps {
  client: SmartClient;
  flag: ResultFlag;
  response: FlagResponseCode;
  onClose: () => void;
  onRecorded: (recorded: FlagResponse) => void;
}

/**
 * Renders the response form in a modal `<dialog>`: the browser moves focus into it, keeps Tab inside it and closes it with Escape.
 * The reason is required for an override and optional for an acknowledgement.
 */
function ResponseDialog({ client, flag, response, onClose, onRecorded }: DialogProps) {
  const dialogRef = useRef<HTMLDialogElement>(null);
  const [reasonCode, setReasonCode] = useState('');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [sending, setSending] = useState(false);
  const titleId = useId();
  const reasonId = useId();
  const commentId = useId();

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog !== null && !dialog.open) {
      dialog.showModal();
    }
  }, []);

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setSending(true);
    setError(undefined);
    try {
      const recorded = await respondToFlag(client, flag.flagId, {
        response,
        reasonCode: reasonCode === '' ? undefined : reasonCode,
        comment,
      });
      dialogRef.current?.close();
      onRecorded(recorded);
    } catch (failure) {
      setError(describeFailure(failure));
      setSending(false);
    }
  };

  const verb = response === 'override' ? 'Override' : 'Acknowledge';
  return (
    <dialog ref={dialogRef} aria-labelledby={titleId} onClose={onClose} className="response-dialog">
      <form onSubmit={(event) => void submit(event)}>
        <h3 id={titleId}>
          {verb} flag: {flag.reason}
        </h3>
        <label htmlFor={reasonId}>Reason{response === 'override' ? ' (required)' : ' (optional)'}</label>
        <select
          id={reasonId}
          required={response === 'override'}
          value={reasonCode}
          onChange={(event) => {
            setReasonCode(event.target.value);
          }}
        >
          <option value="">Choose a reason…</option>
          {FLAG_RESPONSE_REASONS.map((reason) => (
            <option key={reason.code} value={reason.code}>
              {reason.display}
            </option>
          ))}
        </select>
        <label htmlFor={commentId}>Comment (optional)</label>
        <textarea
          id={commentId}
          rows={3}
          value={comment}
          onChange={(event) => {
            setComment(event.target.value);
          }}
        />
        {error === undefined ? null : (
          <p className="problem-text" role="alert">
            $respond failed: {error}
          </p>
        )}
        <div className="dialog-buttons">
          <button type="submit" disabled={sending}>
            Record {response === 'override' ? 'override' : 'acknowledgement'}
          </button>
          <button
            type="button"
            onClick={() => {
              dialogRef.current?.close();
            }}
          >
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

function FlagResponseItem({ client, flag }: { client: SmartClient; flag: ResultFlag }) {
  const [recorded, setRecorded] = useState<FlagResponse | undefined>(flag.response);
  const [open, setOpen] = useState<FlagResponseCode | undefined>(undefined);
  const labelId = useId();

  if (recorded !== undefined) {
    return (
      <li>
        <span id={labelId}>{flag.reason}</span>: <RecordedResponse recorded={recorded} />
      </li>
    );
  }
  return (
    <li>
      <span id={labelId}>{flag.reason}</span>:{' '}
      <button
        type="button"
        aria-describedby={labelId}
        onClick={() => {
          setOpen('acknowledge');
        }}
      >
        Acknowledge
      </button>{' '}
      <button
        type="button"
        aria-describedby={labelId}
        onClick={() => {
          setOpen('override');
        }}
      >
        Override
      </button>
      {open === undefined ? null : (
        <ResponseDialog
          client={client}
          flag={flag}
          response={open}
          onClose={() => {
            setOpen(undefined);
          }}
          onRecorded={setRecorded}
        />
      )}
    </li>
  );
}

/** Renders, for each Flag of an AI result, the response buttons or the recorded response. */
export function FlagResponses({ client, flags }: { client: SmartClient; flags: ResultFlag[] }) {
  return (
    <ul className="flag-responses" aria-label="Clinician responses to the Flags">
      {flags.map((flag) => (
        <FlagResponseItem key={flag.flagId} client={client} flag={flag} />
      ))}
    </ul>
  );
}
