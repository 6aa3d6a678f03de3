// Clicks on a 3D canvas that also orbits: a press and release that barely moved.

/** How far (CSS pixels) the pointer may travel between press and release and still count as a click. */
export const CLICK_SLOP_PX = 5;

/**
 * Call `onClick(event)` for left-button clicks on `target` that were not drags.
 * Returns a function that removes the listeners.
 * @param {EventTarget} target
 * @param {(event: PointerEvent) => void} onClick
 */
export function onCleanClick(target, onClick) {
  let down = null;
  const onDown = (event) => {
    down = { x: event.clientX, y: event.clientY, button: event.button };
  };
  const onUp = (event) => {
    if (!down || down.button !== 0) return;
    const moved = Math.hypot(event.clientX - down.x, event.clientY - down.y);
    down = null;
    if (moved <= CLICK_SLOP_PX) onClick(event);
  };
  target.addEventListener("pointerdown", onDown);
  target.addEventListener("pointerup", onUp);
  return () => {
    target.removeEventListener("pointerdown", onDown);
    target.removeEventListener("pointerup", onUp);
  };
}
