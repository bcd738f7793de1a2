/** Renders a model or metric status as text and color, so color is never the only cue (WCAG 1.4.1). */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status.replace(/\s+/g, '-')}`}>{status}</span>;
}
