import { Component, type ErrorInfo, type ReactNode } from 'react';

/** State of {@link ErrorBoundary}: the message of the error that stopped rendering, if any. */
interface ErrorBoundaryState {
  message: string | undefined;
}

/**
 * Shows a message in place of the app when a view throws while rendering, because React otherwise
 * unmounts the whole tree and leaves a blank page. Error boundaries must be class components (React 19).
 */
export class ErrorBoundary extends Component<{ children: ReactNode }, ErrorBoundaryState> {
  override state: ErrorBoundaryState = { message: undefined };

  static getDerivedStateFromError(error: unknown): ErrorBoundaryState {
    return { message: error instanceof Error ? error.message : String(error) };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    // The browser console is the only log of a client-side failure; the message names no patient data.
    console.error('MonitorMed view failed to render', error, info.componentStack);
  }

  override render(): ReactNode {
    if (this.state.message === undefined) {
      return this.props.children;
    }
    return (
      <main>
        <h1>MonitorMed: AI monitoring</h1>
        <section className="notice problem" role="alert">
          <h2>The page failed</h2>
          <p>
            A view of the app failed to render: {this.state.message}. Reload the page, or launch the app again
            from the EHR or from <a href="./launch.html">the launch page</a>.
          </p>
        </section>
      </main>
    );
  }
}
