// The system view: a star, its planets on their orbits, moons circling the planets, the station.
//
//   import { mountSystemView } from "./system-view.js";
//   const view = mountSystemView(container, system, { mapHref: (s) => `map.html?focus=…` });
//
// `system` is the JSON of GET /api/v1/systems/{id} (planets with moons, space_station).
// Nothing is fetched here, so a page with the data inlined can use it as it is.
//
// Layout: planets sit on evenly spaced orbits in their recorded order (the data
// has no planet distances) and circle the star slowly, inner ones faster. Moons
// circle their planet at distances that follow their `orbit_radius` (on a log
// scale, so wide and tight orbits both stay visible) and at speeds that follow
// their `orbit_speed` (radians per second, halved, at most 1.5). The station sits
// beyond the outermost orbit, towards where it is recorded from the star: its x/y/z
// and the system's are both galaxy positions in light years, so the direction is
// their difference (see stationDirection).
//
// Clicking a body (or its entry in the list) shows its details; every name and
// field is set as text.

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { CSS2DObject, CSS2DRenderer } from "three/addons/renderers/CSS2DRenderer.js";
import { el } from "./api.js";
import { SYSTEM_FIELDS } from "./labels.js";
import { onCleanClick } from "./pointer.js";
import { radialTexture } from "./textures.js";

const BACKGROUND = 0x04050a;
const STAR_RADIUS = 6;
const FIRST_ORBIT = 20;
const ORBIT_SPACING = 16;
const MIN_PICK_PX = 10;
const MAX_MOON_SPEED = 1.5;

const STAR_COLOURS = [0xfff4d6, 0xffe08a, 0xffc46b, 0xff9d5c, 0xcfe0ff, 0xa9c4ff, 0xff7a5c];
const BODY_COLOURS = [0x7aa6c2, 0xc29a6b, 0x8fbf7f, 0xb48ac9, 0xd0c27a, 0x7fc9c0, 0xc97f7f];
const PROPERTY_COLOURS = [
  [/frozen|ic[ey]|glacial|freez|snow|frost/i, 0xbfe3ff],
  [/scorch|volcan|burn|inferno|fire|magma|molten|hot/i, 0xff8a4c],
  [/toxic|caustic|acid|poison|noxious/i, 0x9bd94a],
  [/radioactiv|irradiat|nuclear|isotop/i, 0xd8e84a],
  [/ocean|water|sea|marine/i, 0x3a8fe0],
  [/lush|temperate|paradise|verdant|tropical|humid|green/i, 0x4fbf7a],
  [/barren|desert|arid|dust|rock|sand|dry/i, 0xc9a26b],
  [/dead|airless|lifeless|empty/i, 0x8a8f98],
  [/exotic|anomal|glass|weird|bubble/i, 0xd07cff],
];

const BODY_FIELDS = [
  ["properties", "Properties"],
  ["sentinel", "Sentinels"],
  ["fauna", "Fauna"],
  ["flora", "Flora"],
  ["materials", "Materials"],
  ["base_location", "Base"],
  ["notes", "Notes"],
];

function hashString(s) {
  let h = 2166136261;
  for (const ch of String(s ?? "")) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** 0..1 from a string, stable across visits. */
function unit(s) {
  return hashString(s) / 4294967296;
}

function bodyColour(body, salt) {
  const text = String(body?.properties ?? "");
  for (const [pattern, colour] of PROPERTY_COLOURS) if (pattern.test(text)) return colour;
  return BODY_COLOURS[hashString(`${salt}:${body?.name ?? ""}`) % BODY_COLOURS.length];
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

function formatNumber(v, digits = 2) {
  return finite(v) ? v.toLocaleString(undefined, { maximumFractionDigits: digits }) : "not recorded";
}

function circle(radius, colour, opacity = 1) {
  const n = 128;
  const pts = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = (i / n) * Math.PI * 2;
    pts[3 * i] = Math.cos(a) * radius;
    pts[3 * i + 2] = Math.sin(a) * radius;
  }
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.BufferAttribute(pts, 3));
  const m = new THREE.LineBasicMaterial({ color: colour, transparent: opacity < 1, opacity });
  return new THREE.LineLoop(g, m);
}

function glowTexture() {
  return radialTexture(128, [[0, 0.9], [0.3, 0.35], [1, 0]]);
}

/** Moon distances from their planet: log of orbit_radius mapped into [inner, inner + span]. */
function moonLayout(planets) {
  const radii = [];
  for (const p of planets) for (const m of p.moons ?? []) if (finite(m.orbit_radius) && m.orbit_radius > 0) radii.push(Math.log(m.orbit_radius));
  const lo = radii.length ? Math.min(...radii) : 0;
  const hi = radii.length ? Math.max(...radii) : 0;
  return (moon, k, count) => {
    if (finite(moon.orbit_radius) && moon.orbit_radius > 0) {
      return hi > lo ? (Math.log(moon.orbit_radius) - lo) / (hi - lo) : 0.5;
    }
    return (k + 1) / (count + 1);
  };
}

const DEFAULT_STATION_DIRECTION = [1, 0.25, 0.6];

/**
 * Which way the station lies from the star, as a unit vector in the view's axes.
 * The station's x/y/z and the system's are galaxy positions in light years (a station is
 * usually within a light year or two of its star), so the direction is the station's
 * position minus the system's. The distance is not drawn to scale: only the direction is
 * used. With no usable offset (a coordinate missing or not finite, or the station at the
 * star's own position) the station gets a default direction.
 */
export function stationDirection(system, station) {
  const fallback = new THREE.Vector3(...DEFAULT_STATION_DIRECTION).normalize();
  const coords = [station?.x, station?.y, station?.z, system?.x, system?.y, system?.z];
  if (!coords.every(finite)) return fallback;
  // Halves first, so that even the largest doubles (±1.8e308) cannot overflow when subtracted.
  const offset = [station.x / 2 - system.x / 2, station.y / 2 - system.y / 2, station.z / 2 - system.z / 2];
  const scale = Math.max(...offset.map(Math.abs));
  if (!(scale > 0 && Number.isFinite(scale))) return fallback;
  // Divided by the largest component first: squared, an offset such as 1e300 overflows to
  // Infinity, and normalizing by an infinite length gives a zero vector (the star's centre).
  const [dx, dy, dz] = offset.map((v) => v / scale);
  // galaxy axes (z up) to the view's (y up)
  const dir = new THREE.Vector3(dx, dz, -dy);
  return dir.lengthSq() > 0 ? dir.normalize() : fallback;
}

function fieldRows(obj, fields) {
  const rows = [];
  for (const [key, label] of fields) {
    const v = obj?.[key];
    if (v !== null && v !== undefined && v !== "") rows.push(el("dt", {}, label), el("dd", {}, String(v)));
  }
  return rows;
}

/**
 * Draw `system` into `container`.
 * @param {HTMLElement} container
 * @param {object} system JSON of /api/v1/systems/{id}
 * @param {{panel?: HTMLElement, animate?: boolean, mapHref?: (system: object) => string|null,
 *          actions?: Node[], extra?: Node[]}} [options]
 *   panel: where the body list and details go (default: a panel inside the container);
 *   animate: start with the orbits moving (default true);
 *   mapHref: link for "Show on the galaxy map" (none when absent);
 *   actions: more links or buttons, next to that one (the system page's Edit);
 *   extra: nodes put under them, before the list of bodies (the system page's notices and history).
 * @returns handle {bodies(), select(id), selected, screenPositionOf(id), setPaused(bool), paused, ready, dispose()}
 */
export function mountSystemView(container, system, options = {}) {
  if (!system || typeof system !== "object") throw new TypeError("mountSystemView needs a system object");
  const planets = Array.isArray(system.planets) ? system.planets : [];
  const station = system.space_station && typeof system.space_station === "object" ? system.space_station : null;

  // ---- DOM ----
  const stage = el("div", { className: "system-stage" });
  const renderer = new THREE.WebGLRenderer({ antialias: true });
  const pixelRatio = Math.min(window.devicePixelRatio || 1, 2);
  renderer.setPixelRatio(pixelRatio);
  renderer.setClearColor(BACKGROUND, 1);
  const canvas = renderer.domElement;
  canvas.className = "system-canvas";
  canvas.setAttribute("aria-label", "System view: drag to turn, scroll to zoom, click a body for details");
  canvas.tabIndex = 0;
  const labels = new CSS2DRenderer();
  labels.domElement.className = "system-labels";
  Object.assign(labels.domElement.style, { position: "absolute", inset: "0", pointerEvents: "none" });
  stage.append(canvas, labels.domElement);
  container.append(stage);

  let panel = options.panel ?? null;
  const ownPanel = !panel;
  if (ownPanel) {
    panel = el("aside", { className: "system-panel", "aria-label": "System" });
    container.append(panel);
  }
  const details = el("section", { className: "system-details", id: "system-details", "aria-live": "polite" });
  const list = el("ul", { className: "system-bodies", id: "system-bodies", "aria-label": "Bodies" });
  const mapHref = options.mapHref ? options.mapHref(system) : null;
  const present = (...nodes) => nodes.filter((n) => n !== null && n !== undefined && n !== false);
  const actions = present(
    mapHref ? el("a", { className: "btn", href: mapHref, id: "show-on-map" }, "Show on the galaxy map") : null,
    ...(options.actions ?? []),
  );
  panel.replaceChildren(...present(
    el("h1", { id: "system-name" }, String(system.name ?? "")),
    el(
      "p",
      { className: "system-kind" },
      `${system.region ? `Region ${system.region} · ` : ""}${formatNumber(system.x)}, ${formatNumber(system.y)}, ${formatNumber(system.z)} LY`,
    ),
    system.derived ? el("p", { className: "map-muted" }, "Planets, moons and station are derived from this system's seed.") : null,
    actions.length ? el("p", { className: "map-actions" }, ...actions) : null,
    ...present(...(options.extra ?? [])),
    el("h2", {}, "Bodies"),
    list,
    details,
  ));

  // ---- scene ----
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(50, 1, 0.1, 20_000);
  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = true;
  controls.dampingFactor = 0.12;
  scene.add(new THREE.AmbientLight(0x8090a8, 0.55));
  const sun = new THREE.PointLight(0xffffff, 2.6, 0, 0);
  scene.add(sun);

  const geometries = [];
  const materials = [];
  const track = (thing, bucket) => {
    bucket.push(thing);
    return thing;
  };
  const sphere = track(new THREE.SphereGeometry(1, 32, 20), geometries);

  /** @type {Map<string, {id, kind, name, data, object: THREE.Object3D, radius: number, label: HTMLElement, button: HTMLElement, material?: THREE.Material}>} */
  const bodies = new Map();

  const addLabel = (object, text, cls) => {
    const div = el("div", { className: `system-label system-label-${cls}` }, text);
    const label = new CSS2DObject(div);
    label.center.set(0.5, 1); // the label's bottom edge sits just above the body
    label.position.set(0, object === star || object.isGroup ? 1.4 : 1.3, 0);
    object.add(label);
    return div;
  };

  // the star
  const starColour = STAR_COLOURS[hashString(system.name) % STAR_COLOURS.length];
  const starMaterial = track(new THREE.MeshBasicMaterial({ color: starColour }), materials);
  const star = new THREE.Mesh(sphere, starMaterial);
  star.scale.setScalar(STAR_RADIUS);
  scene.add(star);
  const glowMap = glowTexture();
  const glowMaterial = track(new THREE.SpriteMaterial({ map: glowMap, color: starColour, transparent: true, depthWrite: false }), materials);
  const glow = new THREE.Sprite(glowMaterial);
  glow.scale.setScalar(STAR_RADIUS * 5);
  scene.add(glow);
  bodies.set("star", {
    id: "star",
    kind: "star",
    name: String(system.name ?? ""),
    data: system,
    object: star,
    radius: STAR_RADIUS,
    label: addLabel(star, String(system.name ?? ""), "star"),
  });

  // planets and moons
  const moonT = moonLayout(planets);
  const moving = []; // {pivot, radius, speed, phase, y}
  planets.forEach((p, i) => {
    const orbit = FIRST_ORBIT + i * ORBIT_SPACING;
    scene.add(circle(orbit, 0x2b3a4d));
    const pivot = new THREE.Group();
    scene.add(pivot);
    const radius = 1.3 + 1.4 * unit(`size:${p.name}`);
    const material = track(new THREE.MeshStandardMaterial({ color: bodyColour(p, "planet"), roughness: 0.85, metalness: 0.05 }), materials);
    const mesh = new THREE.Mesh(sphere, material);
    mesh.scale.setScalar(radius);
    pivot.add(mesh);
    moving.push({ pivot, radius: orbit, speed: 0.35 * (FIRST_ORBIT / orbit) ** 1.5, phase: unit(`phase:${p.name}`) * Math.PI * 2 });
    const id = `planet-${i}`;
    bodies.set(id, { id, kind: "planet", name: String(p.name ?? ""), data: p, object: mesh, radius, label: addLabel(mesh, String(p.name ?? ""), "planet"), material, index: i });

    const moons = Array.isArray(p.moons) ? p.moons : [];
    moons.forEach((m, k) => {
      const dist = radius + 1.4 + moonT(m, k, moons.length) * 4.2;
      const ring = circle(dist, 0x243142, 0.8);
      pivot.add(ring);
      const mPivot = new THREE.Group();
      pivot.add(mPivot);
      const mRadius = 0.35 + 0.3 * unit(`size:${m.name}`);
      const mMaterial = track(new THREE.MeshStandardMaterial({ color: bodyColour(m, "moon"), roughness: 0.9 }), materials);
      const mMesh = new THREE.Mesh(sphere, mMaterial);
      mMesh.scale.setScalar(mRadius);
      mPivot.add(mMesh);
      const speed = finite(m.orbit_speed)
        ? Math.max(-MAX_MOON_SPEED, Math.min(MAX_MOON_SPEED, m.orbit_speed * 0.5))
        : 0.4 / (k + 1);
      moving.push({ pivot: mPivot, radius: dist, speed, phase: unit(`phase:${m.name}`) * Math.PI * 2 });
      const mid = `moon-${i}-${k}`;
      bodies.set(mid, {
        id: mid,
        kind: "moon",
        name: String(m.name ?? ""),
        data: m,
        planet: p,
        object: mMesh,
        radius: mRadius,
        label: addLabel(mMesh, String(m.name ?? ""), "moon"),
        material: mMaterial,
      });
    });
  });
  const outer = planets.length ? FIRST_ORBIT + (planets.length - 1) * ORBIT_SPACING : STAR_RADIUS * 2;

  // the station
  if (station) {
    const group = new THREE.Group();
    const sMaterial = track(new THREE.MeshStandardMaterial({ color: 0xc8d2dc, roughness: 0.4, metalness: 0.6, emissive: 0x1a2430 }), materials);
    const core = new THREE.Mesh(track(new THREE.OctahedronGeometry(1.3), geometries), sMaterial);
    const ring = new THREE.Mesh(track(new THREE.TorusGeometry(2.0, 0.25, 8, 32), geometries), sMaterial);
    group.add(core, ring);
    group.position.copy(stationDirection(system, station).multiplyScalar(outer + 10));
    scene.add(group);
    bodies.set("station", {
      id: "station",
      kind: "station",
      name: String(station.name ?? ""),
      data: station,
      object: group,
      radius: 2.2,
      label: addLabel(group, String(station.name ?? ""), "station"),
      material: sMaterial,
    });
  }

  // ---- the list of bodies ----
  const button = (body, kindText) => {
    const b = el(
      "button",
      { type: "button", "aria-pressed": "false", dataset: { body: body.id }, onclick: () => select(body.id) },
      body.name || "(unnamed)",
      " ",
      el("span", { className: "system-kind" }, kindText),
    );
    body.button = b;
    return b;
  };
  const starBody = bodies.get("star");
  const planetItems = planets.map((p, i) => {
    const pb = bodies.get(`planet-${i}`);
    const moons = (p.moons ?? []).map((_, k) => el("li", {}, button(bodies.get(`moon-${i}-${k}`), "moon")));
    return el("li", {}, button(pb, "planet"), moons.length ? el("ul", {}, ...moons) : null);
  });
  list.replaceChildren(...present(
    el("li", {}, button(starBody, "star")),
    ...planetItems,
    station ? el("li", {}, button(bodies.get("station"), "station")) : null,
    planets.length ? null : el("li", { className: "map-muted" }, "No planets recorded."),
  ));

  // ---- details ----
  function describe(body) {
    const d = body.data ?? {};
    const rows = [];
    if (body.kind === "star") {
      rows.push(el("dt", {}, "Region"), el("dd", {}, String(d.region ?? "None")));
      rows.push(el("dt", {}, "Position"), el("dd", {}, `${formatNumber(d.x)}, ${formatNumber(d.y)}, ${formatNumber(d.z)} LY`));
      rows.push(...fieldRows(d, SYSTEM_FIELDS));
      const moons = planets.reduce((n, p) => n + (p.moons?.length ?? 0), 0);
      rows.push(el("dt", {}, "Planets"), el("dd", {}, `${planets.length} (${moons} ${moons === 1 ? "moon" : "moons"})`));
    } else if (body.kind === "planet") {
      rows.push(...fieldRows(d, BODY_FIELDS));
      rows.push(el("dt", {}, "Moons"), el("dd", {}, String(d.moons?.length ?? 0)));
    } else if (body.kind === "moon") {
      rows.push(el("dt", {}, "Orbits"), el("dd", {}, String(body.planet?.name ?? "")));
      rows.push(el("dt", {}, "Orbit radius"), el("dd", {}, formatNumber(d.orbit_radius)));
      rows.push(el("dt", {}, "Orbit speed"), el("dd", {}, formatNumber(d.orbit_speed, 4)));
      rows.push(...fieldRows(d, BODY_FIELDS));
    } else {
      rows.push(...fieldRows(d, [["race", "Race"]]));
      rows.push(el("dt", {}, "Sells at"), el("dd", {}, finite(d.sell_percent) ? `${formatNumber(d.sell_percent)} %` : "not recorded"));
      rows.push(el("dt", {}, "Buys at"), el("dd", {}, finite(d.buy_percent) ? `${formatNumber(d.buy_percent)} %` : "not recorded"));
      const pos = [d.x, d.y, d.z].every(finite) ? `${formatNumber(d.x)}, ${formatNumber(d.y)}, ${formatNumber(d.z)}` : "not recorded";
      rows.push(el("dt", {}, "Position"), el("dd", {}, pos));
    }
    return [
      el("h2", { className: "system-details-name" }, body.name || "(unnamed)"),
      el("p", { className: "system-kind" }, body.kind[0].toUpperCase() + body.kind.slice(1)),
      el("dl", { className: "map-fields" }, ...rows),
    ];
  }

  let selected = null;
  function select(id) {
    const body = bodies.get(id);
    if (!body) return false;
    if (selected) {
      const prev = bodies.get(selected);
      prev.button?.setAttribute("aria-pressed", "false");
      prev.label.classList.remove("selected");
      if (prev.material?.emissive) prev.material.emissive.setHex(prev.kind === "station" ? 0x1a2430 : 0x000000);
    }
    selected = id;
    body.button?.setAttribute("aria-pressed", "true");
    body.label.classList.add("selected");
    if (body.material?.emissive) body.material.emissive.setHex(0x3a3410);
    details.replaceChildren(...describe(body));
    needsRender = true;
    return true;
  }

  // ---- camera, picking, loop ----
  const extent = outer + 16;
  controls.target.set(0, 0, 0);
  controls.maxDistance = extent * 8;
  controls.minDistance = 2;
  camera.far = extent * 40;
  let userMoved = false;
  controls.addEventListener("start", () => {
    userMoved = true;
  });
  /** Look at the whole system from above at an angle, fitting the stage's shape. */
  function frameView() {
    const fov = THREE.MathUtils.degToRad(camera.fov);
    const distance = ((extent * 0.95) / Math.tan(fov / 2)) / Math.min(1, camera.aspect);
    camera.position.set(0, 0.55, 0.83).normalize().multiplyScalar(distance);
    camera.lookAt(0, 0, 0);
    controls.update();
  }

  const world = new THREE.Vector3();
  function project(body) {
    body.object.getWorldPosition(world);
    const v = world.clone().project(camera);
    if (v.z > 1) return null;
    const rect = canvas.getBoundingClientRect();
    const dist = camera.position.distanceTo(world);
    const fov = THREE.MathUtils.degToRad(camera.fov);
    const radiusPx = ((body.radius / Math.max(dist, 1e-6)) * (rect.height / 2)) / Math.tan(fov / 2);
    return {
      clientX: rect.left + ((v.x + 1) / 2) * rect.width,
      clientY: rect.top + ((1 - v.y) / 2) * rect.height,
      radiusPx,
      dist,
    };
  }

  function bodyAt(clientX, clientY) {
    let best = null;
    let bestScore = Infinity;
    for (const body of bodies.values()) {
      const s = project(body);
      if (!s) continue;
      const d = Math.hypot(s.clientX - clientX, s.clientY - clientY);
      const reach = Math.max(s.radiusPx + 3, MIN_PICK_PX);
      if (d > reach) continue;
      const score = d / reach + s.dist * 1e-6;
      if (score < bestScore) {
        bestScore = score;
        best = body;
      }
    }
    return best;
  }

  const removeClick = onCleanClick(canvas, (event) => {
    const body = bodyAt(event.clientX, event.clientY);
    if (body) select(body.id);
  });

  let paused = options.animate === false;
  let needsRender = true;
  let time = 0;
  let last = performance.now();
  let raf = 0;
  let disposed = false;
  let resolveReady;
  const ready = new Promise((r) => {
    resolveReady = r;
  });
  let frames = 0;

  function place() {
    for (const m of moving) {
      const a = m.phase + time * m.speed;
      m.pivot.position.set(Math.cos(a) * m.radius, 0, -Math.sin(a) * m.radius);
    }
  }

  function resize() {
    const w = Math.max(1, stage.clientWidth);
    const h = Math.max(1, stage.clientHeight);
    renderer.setSize(w, h, true);
    labels.setSize(w, h);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    if (!userMoved) frameView();
    needsRender = true;
  }

  function frame(now) {
    if (disposed) return;
    raf = requestAnimationFrame(frame);
    const dt = Math.min(0.1, Math.max(0, (now - last) / 1000));
    last = now;
    if (!paused) {
      time += dt;
      needsRender = true;
    }
    if (controls.update()) needsRender = true;
    if (!needsRender) return;
    needsRender = false;
    place();
    renderer.render(scene, camera);
    labels.render(scene, camera);
    if (++frames === 2) resolveReady(handle);
  }

  const observer = new ResizeObserver(resize);
  observer.observe(stage);
  resize();
  place();
  controls.addEventListener("change", () => {
    needsRender = true;
  });
  raf = requestAnimationFrame(frame);
  select("star");

  const handle = {
    ready,
    get selected() {
      return selected;
    },
    get paused() {
      return paused;
    },
    /** [{id, kind, name}] for every body drawn. */
    bodies: () => [...bodies.values()].map((b) => ({ id: b.id, kind: b.kind, name: b.name })),
    select,
    /** Where body `id` is on screen: {clientX, clientY, radiusPx} (null when behind the camera). */
    screenPositionOf: (id) => {
      const body = bodies.get(id);
      if (!body) return null;
      scene.updateMatrixWorld();
      const s = project(body);
      return s ? { clientX: s.clientX, clientY: s.clientY, radiusPx: s.radiusPx } : null;
    },
    /** Stop (true) or restart (false) the orbits. */
    setPaused(value) {
      paused = !!value;
      needsRender = true;
    },
    dispose() {
      disposed = true;
      cancelAnimationFrame(raf);
      observer.disconnect();
      controls.dispose();
      removeClick();
      scene.traverse((o) => {
        if (o.isLine) {
          o.geometry.dispose();
          o.material.dispose();
        }
      });
      for (const g of geometries) g.dispose();
      for (const m of materials) m.dispose();
      glowMap.dispose();
      renderer.dispose();
      stage.remove();
      if (ownPanel) panel.remove();
      else panel.replaceChildren();
    },
  };
  return handle;
}
