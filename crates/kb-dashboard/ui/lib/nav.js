// Moving between views: views are chosen by the URL's hash.

/** Shows `hash`, running the router again when it is already the current one. */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

const AFTER_SIGN_IN = 'keelbase.dashboard.after';

/** Remembers where a signed-out visitor was going. */
export function rememberDestination(hash) {
  if (hash && !hash.startsWith('#/login') && !hash.startsWith('#/install/')) sessionStorage.setItem(AFTER_SIGN_IN, hash);
}

/** Goes where the visitor was going before signing in (the start page otherwise). */
export function goAfterSignIn() {
  const hash = sessionStorage.getItem(AFTER_SIGN_IN) || '#/';
  sessionStorage.removeItem(AFTER_SIGN_IN);
  go(hash);
}
