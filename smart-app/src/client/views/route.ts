import { useEffect, useState } from 'react';

/** A view of the app, chosen by the URL fragment so that views need no server routes. */
export type Route =
  | { view: 'patient' }
  | { view: 'inventory' }
  | { view: 'dashboard'; deviceId: string }
  | { view: 'report'; deviceId: string };

/** Parses a fragment: `#/inventory`, `#/models/{id}` or `#/models/{id}/report`. Anything else is the patient view. */
export function parseRoute(hash: string): Route {
  if (hash === '#/inventory') {
    return { view: 'inventory' };
  }
  const match = /^#\/models\/([A-Za-z0-9\-.]{1,64})(\/report)?$/.exec(hash);
  if (match?.[1] !== undefined) {
    return match[2] === undefined
      ? { view: 'dashboard', deviceId: match[1] }
      : { view: 'report', deviceId: match[1] };
  }
  return { view: 'patient' };
}

/** Returns the route of the current fragment and follows its changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const follow = () => {
      setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener('hashchange', follow);
    return () => {
      window.removeEventListener('hashchange', follow);
    };
  }, []);
  return route;
}
