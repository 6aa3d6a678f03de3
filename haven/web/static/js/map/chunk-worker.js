// Module worker: decodes CHNK chunks off the main thread (see decode.js).
//
// in:  {id, buffer: ArrayBuffer, options: {centre, halfSize, cell}}
// out: {id, ok: true, chunk} (positions and colours transferred) or {id, ok: false, error, name}
// It announces itself with {ready: true} once loaded.

import { decodeForMap, transferables } from "./decode.js";

self.addEventListener("message", (event) => {
  const { id, buffer, options } = event.data ?? {};
  try {
    const chunk = decodeForMap(buffer, options);
    self.postMessage({ id, ok: true, chunk }, transferables(chunk));
  } catch (err) {
    self.postMessage({ id, ok: false, error: String(err?.message ?? err), name: err?.name ?? "Error" });
  }
});

self.postMessage({ ready: true });
