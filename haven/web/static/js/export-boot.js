// Start of a static export (`haven map`): read the data inlined in the page and hand it to a view.
//
// The page carries its data in <script type="application/json" id="haven-data">, the view goes
// into <main id="haven-view">. When the view is mounted, <html data-haven-ready="true"> is set;
// when something fails, the message is shown as text and data-haven-ready is "error".

/** The JSON inlined in the page. */
export function readData(id = "haven-data") {
  const node = document.getElementById(id);
  if (!node) throw new Error("This page has no inlined data.");
  return JSON.parse(node.textContent);
}

/** Show an error as text (never as markup). */
export function showError(err) {
  const box = document.getElementById("haven-export-error");
  const message = err instanceof Error ? err.message : String(err);
  if (box) {
    box.textContent = `This map could not be drawn: ${message}`;
    box.hidden = false;
  }
  document.documentElement.dataset.havenReady = "error";
}

/**
 * Mount a view: `mount(container, data)` may return the view or a promise of it.
 * @param {(container: HTMLElement, data: any) => any} mount
 */
export async function start(mount) {
  try {
    const data = readData();
    const container = document.getElementById("haven-view") ?? document.body;
    const view = await mount(container, data);
    globalThis.havenExport = { data, view };
    document.documentElement.dataset.havenReady = "true";
    return view;
  } catch (err) {
    showError(err);
    console.error(err);
    return null;
  }
}
