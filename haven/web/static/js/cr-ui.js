// Page furniture shared by the Control Room and the System Entry Wizard: the error
// banner, the notice line and in-page confirmation dialogs (never window.confirm).
// Pages provide #error-banner (with #error-message and #retry) and #notice.

import { el } from "./api.js";

/** A sentence for an API error, in plain words. */
export function describeError(err) {
  if (err?.unreachable) return err.message;
  if (err?.status) return `The server answered ${err.status}: ${err.message}`;
  return String(err?.message ?? err ?? "Something went wrong.");
}

let retryHandler = null;

/** Show the page's error banner; `onRetry` (or null) decides whether "Try again" is offered. */
export function showBanner(err, onRetry) {
  const banner = document.getElementById("error-banner");
  const message = document.getElementById("error-message");
  const retry = document.getElementById("retry");
  if (!banner || !message) return;
  message.textContent = typeof err === "string" ? err : describeError(err);
  retryHandler = onRetry ?? null;
  if (retry) {
    retry.hidden = !retryHandler;
    retry.onclick = () => {
      hideBanner();
      retryHandler?.();
    };
  }
  banner.hidden = false;
}

export function hideBanner() {
  const banner = document.getElementById("error-banner");
  if (banner) banner.hidden = true;
}

/**
 * Show a one-line notice with optional action buttons and a dismiss button.
 * @param {(Node|string)[]} parts the message, as text or nodes
 * @param {{kind?: "notice"|"warning", actions?: Node[]}} [options]
 */
export function showNotice(parts, { kind = "notice", actions = [] } = {}) {
  const notice = document.getElementById("notice");
  if (!notice) return;
  notice.className = kind === "warning" ? "warning" : "notice";
  notice.replaceChildren(
    el("span", { className: "message" }, ...parts),
    ...actions,
    el("button", { type: "button", className: "btn btn-small", "aria-label": "Dismiss", onclick: hideNotice }, "×"),
  );
  notice.hidden = false;
}

export function hideNotice() {
  const notice = document.getElementById("notice");
  if (notice) {
    notice.hidden = true;
    notice.replaceChildren();
  }
}

/**
 * Open a <dialog> modally and resolve to the value of the button that closed it
 * ("" when closed with Escape).
 */
export function confirmWith(dialog) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.showModal();
  });
}
