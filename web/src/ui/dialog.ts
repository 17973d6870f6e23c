/** A modal confirmation for what cannot be undone (removing someone, ending
 *  the meeting): the native <dialog>, so focus is trapped, Escape cancels and
 *  focus returns where it was. The safe choice has the focus. */

import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.ts';

export interface ConfirmRequest {
  readonly text: string;
  readonly action: string;
  readonly run: () => void;
}

export function ConfirmDialog({ request, close }: { request: ConfirmRequest | undefined; close: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (request !== undefined && !dialog.open) dialog.showModal();
    if (request === undefined && dialog.open) dialog.close();
  }, [request]);
  return html`
    <dialog ref=${ref} class="dialog" aria-labelledby="confirm-text" onClose=${close}>
      <p id="confirm-text">${request?.text ?? ''}</p>
      <div class="dialog-actions">
        <button type="button" class="button" autofocus onClick=${close}>Cancel</button>
        <button type="button" class="button danger" onClick=${() => {
          request?.run();
          close();
        }}>${request?.action ?? 'OK'}</button>
      </div>
    </dialog>`;
}
