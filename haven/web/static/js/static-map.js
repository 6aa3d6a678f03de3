// A region of the galaxy as a three.js star field, drawn from data inlined in the page.
//
//   import { mountStaticMap } from "./static-map.js";
//   const map = mountStaticMap(container, data);
//
// `data` is what `haven map --region` inlines: columns of equal length
//   { region, galaxy, count, ids: [..], names: [..], xyz: [x0, y0, z0, x1, ..],
//     details: { sentinel: [..], fauna: [..], flora: [..], materials: [..] } }
// in light years, the galactic disk in the x/y plane. Nothing is fetched.
//
// Drag to turn, right-drag to pan, scroll to zoom; a click on a star shows its details
// (as text, never markup), a double click centres the view on it.

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { el } from "./api.js";
import { onCleanClick } from "./pointer.js";
import { radialTexture } from "./textures.js";

// Star colours from hot to cool; each system gets one from its id, so colours stay put.
const STAR_COLOURS = [0x9db4ff, 0xaabfff, 0xcad7ff, 0xf8f7ff, 0xfff4ea, 0xffe8c6, 0xffd2a1, 0xffb56c];
const POINT_SIZE_PX = 6;
const PICK_RADIUS_PX = 10;
const DETAIL_LABELS = { sentinel: "Sentinels", fauna: "Fauna", flora: "Flora", materials: "Materials" };

function hashId(id) {
  let h = (Number(id) | 0) ^ 0x9e3779b9;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A soft round dot, drawn once, so points are discs instead of squares. */
function dotTexture() {
  const texture = radialTexture(64, [[0, 1], [0.45, 0.9], [1, 0]]);
  texture.colorSpace = THREE.SRGBColorSpace;
  return texture;
}

function formatLy(v) {
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function checkData(data) {
  const count = data?.names?.length ?? 0;
  if (!Array.isArray(data?.names) || !Array.isArray(data?.ids) || !Array.isArray(data?.xyz)) {
    throw new Error("the inlined data has no systems");
  }
  if (data.ids.length !== count || data.xyz.length !== count * 3) {
    throw new Error("the inlined data is inconsistent (ids, names and positions differ in length)");
  }
  return count;
}

/**
 * Draw the region in `container`. Returns a handle:
 * { count, select(i), selected, screenPosition(i), dispose() }.
 */
export function mountStaticMap(container, data, options = {}) {
  const count = checkData(data);
  const xyz = data.xyz;

  // Positions relative to the region's centre keep float32 precise far from the galactic centre.
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < count; i++) {
    for (let a = 0; a < 3; a++) {
      const v = xyz[i * 3 + a];
      if (v < min[a]) min[a] = v;
      if (v > max[a]) max[a] = v;
    }
  }
  const centre = count ? min.map((lo, a) => (lo + max[a]) / 2) : [0, 0, 0];
  const radius = Math.max(1, count ? Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]) / 2 : 1);

  const positions = new Float32Array(count * 3);
  const colours = new Float32Array(count * 3);
  const colour = new THREE.Color();
  for (let i = 0; i < count; i++) {
    for (let a = 0; a < 3; a++) positions[i * 3 + a] = xyz[i * 3 + a] - centre[a];
    colour.setHex(STAR_COLOURS[hashId(data.ids[i]) % STAR_COLOURS.length], THREE.SRGBColorSpace);
    colours[i * 3] = colour.r;
    colours[i * 3 + 1] = colour.g;
    colours[i * 3 + 2] = colour.b;
  }

  // --- DOM -----------------------------------------------------------------------------
  container.classList.add("static-map");
  Object.assign(container.style, { position: "relative", overflow: "hidden" });
  const renderer = new THREE.WebGLRenderer({ antialias: true });
  renderer.setPixelRatio(Math.min(globalThis.devicePixelRatio || 1, 2));
  renderer.setClearColor(0x03050a, 1);
  const canvas = renderer.domElement;
  canvas.setAttribute("aria-label", `Star map of ${data.region ?? "a region"}: ${count} systems`);
  Object.assign(canvas.style, {
    position: "absolute", inset: "0", display: "block", width: "100%", height: "100%", touchAction: "none",
  });
  container.append(canvas);

  const panel = el("aside", { className: "static-map-details", "aria-live": "polite", hidden: true });
  Object.assign(panel.style, {
    position: "absolute", top: "12px", right: "12px", maxWidth: "min(360px, 80%)", maxHeight: "80%",
    overflow: "auto", padding: "10px 14px", background: "rgba(13,17,23,0.92)", color: "#e6edf3",
    border: "1px solid #2d3643", borderRadius: "6px", font: "14px/1.4 system-ui, sans-serif",
    overflowWrap: "anywhere",
  });
  const hint = el("div", { className: "static-map-hint" }, `${count.toLocaleString()} systems`);
  Object.assign(hint.style, {
    position: "absolute", left: "12px", bottom: "10px", color: "#9aa7b4", font: "12px system-ui, sans-serif",
    pointerEvents: "none",
  });
  container.append(panel, hint);

  // --- scene ---------------------------------------------------------------------------
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(55, 1, radius / 1000, radius * 100);
  camera.up.set(0, 0, 1);
  camera.position.set(0, -radius * 1.6, radius * 1.2);

  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.BufferAttribute(positions, 3));
  geometry.setAttribute("color", new THREE.BufferAttribute(colours, 3));
  geometry.computeBoundingSphere();
  const sprite = dotTexture();
  const material = new THREE.PointsMaterial({
    size: POINT_SIZE_PX * renderer.getPixelRatio(), sizeAttenuation: false, vertexColors: true,
    map: sprite, transparent: true, alphaTest: 0.05, depthWrite: false,
  });
  const stars = new THREE.Points(geometry, material);
  scene.add(stars);

  const markerGeometry = new THREE.BufferGeometry();
  markerGeometry.setAttribute("position", new THREE.BufferAttribute(new Float32Array(3), 3));
  const markerMaterial = new THREE.PointsMaterial({
    size: POINT_SIZE_PX * 3 * renderer.getPixelRatio(), sizeAttenuation: false, color: 0xffffff,
    map: sprite, transparent: true, depthTest: false,
  });
  const marker = new THREE.Points(markerGeometry, markerMaterial);
  marker.visible = false;
  marker.renderOrder = 1;
  scene.add(marker);

  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = true;
  controls.dampingFactor = 0.12;
  controls.target.set(0, 0, 0);
  controls.maxDistance = radius * 20;
  controls.minDistance = radius / 500;

  // --- drawing on demand ---------------------------------------------------------------
  let frame = 0;
  let disposed = false;
  const draw = () => {
    frame = 0;
    if (disposed) return;
    const moving = controls.update();
    renderer.render(scene, camera);
    if (moving) requestDraw();
  };
  const requestDraw = () => {
    if (!frame && !disposed) frame = requestAnimationFrame(draw);
  };
  controls.addEventListener("change", requestDraw);

  const resize = () => {
    const width = Math.max(1, container.clientWidth);
    const height = Math.max(1, container.clientHeight);
    renderer.setSize(width, height, false);
    camera.aspect = width / height;
    camera.updateProjectionMatrix();
    requestDraw();
  };
  const observer = new ResizeObserver(resize);
  observer.observe(container);
  resize();

  // --- picking: the star nearest to the pointer on screen ----------------------------------
  const projected = new THREE.Vector3();
  const screenOf = (i) => {
    projected.set(positions[i * 3], positions[i * 3 + 1], positions[i * 3 + 2]).project(camera);
    if (projected.z < -1 || projected.z > 1) return null;
    const rect = canvas.getBoundingClientRect();
    return {
      x: rect.left + ((projected.x + 1) / 2) * rect.width,
      y: rect.top + ((1 - projected.y) / 2) * rect.height,
      depth: projected.z,
    };
  };
  const pick = (clientX, clientY) => {
    camera.updateMatrixWorld();
    let best = -1;
    let bestScore = Infinity;
    for (let i = 0; i < count; i++) {
      const p = screenOf(i);
      if (!p) continue;
      const d = Math.hypot(p.x - clientX, p.y - clientY);
      if (d > PICK_RADIUS_PX) continue;
      const score = d + p.depth; // nearest on screen, then nearest to the eye
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  };

  let selected = -1;
  const showDetails = (i) => {
    panel.replaceChildren();
    if (i < 0) {
      panel.hidden = true;
      return;
    }
    const x = xyz[i * 3];
    const y = xyz[i * 3 + 1];
    const z = xyz[i * 3 + 2];
    const rows = [
      ["Id", String(data.ids[i])],
      ["Position", `${formatLy(x)}, ${formatLy(y)}, ${formatLy(z)} ly`],
    ];
    for (const [field, label] of Object.entries(DETAIL_LABELS)) {
      const value = data.details?.[field]?.[i];
      if (value !== null && value !== undefined && value !== "") rows.push([label, String(value)]);
    }
    const close = el("button", { type: "button", className: "btn btn-small", "aria-label": "Close details",
      onclick: () => select(-1) }, "×");
    Object.assign(close.style, { float: "right", marginLeft: "8px" });
    panel.append(
      close,
      el("h2", { className: "static-map-name" }, data.names[i]),
      el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    );
    Object.assign(panel.querySelector("h2").style, { fontSize: "1.1rem", margin: "0 0 6px" });
    Object.assign(panel.querySelector("dl").style, {
      display: "grid", gridTemplateColumns: "auto 1fr", gap: "2px 12px", margin: "0",
    });
    for (const dt of panel.querySelectorAll("dt")) dt.style.color = "#9aa7b4";
    for (const dd of panel.querySelectorAll("dd")) dd.style.margin = "0";
    panel.hidden = false;
  };

  function select(i) {
    selected = Number.isInteger(i) && i >= 0 && i < count ? i : -1;
    if (selected >= 0) {
      const attr = markerGeometry.getAttribute("position");
      attr.setXYZ(0, positions[selected * 3], positions[selected * 3 + 1], positions[selected * 3 + 2]);
      attr.needsUpdate = true;
      markerGeometry.computeBoundingSphere();
      marker.visible = true;
    } else {
      marker.visible = false;
    }
    showDetails(selected);
    requestDraw();
    container.dispatchEvent(new CustomEvent("haven:select", { detail: { index: selected } }));
    return selected;
  }

  const onDoubleClick = (event) => {
    const i = pick(event.clientX, event.clientY);
    if (i < 0) return;
    const offset = camera.position.clone().sub(controls.target);
    controls.target.set(positions[i * 3], positions[i * 3 + 1], positions[i * 3 + 2]);
    camera.position.copy(controls.target).add(offset);
    controls.update();
    select(i);
  };
  const removeClick = onCleanClick(canvas, (event) => select(pick(event.clientX, event.clientY)));
  canvas.addEventListener("dblclick", onDoubleClick);

  const handle = {
    count,
    get selected() {
      return selected;
    },
    select,
    /** Where star `i` is drawn, in client pixels (null when behind the camera). */
    screenPosition(i) {
      camera.updateMatrixWorld();
      const p = screenOf(i);
      return p ? { x: p.x, y: p.y } : null;
    },
    /** Draw now (the map otherwise draws on the next animation frame). */
    render() {
      controls.update();
      renderer.render(scene, camera);
    },
    dispose() {
      disposed = true;
      cancelAnimationFrame(frame);
      observer.disconnect();
      controls.dispose();
      removeClick();
      canvas.removeEventListener("dblclick", onDoubleClick);
      geometry.dispose();
      markerGeometry.dispose();
      material.dispose();
      markerMaterial.dispose();
      sprite.dispose();
      renderer.dispose();
      canvas.remove();
      panel.remove();
      hint.remove();
    },
  };
  if (options.expose !== false) globalThis.havenStaticMap = handle;
  handle.render();
  return handle;
}
