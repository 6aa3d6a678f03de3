// Moving around the map: orbit with the mouse, fly with the keyboard, glide to a place.
//
//   mouse   left drag: orbit · right drag (or Shift+left): pan · wheel: zoom
//   keys    W/S forward/back · A/D left/right · Q/E down/up · Shift: 4x faster
//
// Keyboard speed scales with the distance to the orbit centre, so the same key
// crosses a galaxy from far out and a star cluster from close in.

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const FLY_KEYS = new Set(["KeyW", "KeyA", "KeyS", "KeyD", "KeyQ", "KeyE"]);
const FLY_MS = 1200;

function typingInto(target) {
  if (!(target instanceof Element)) return false;
  return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']") !== null;
}

const ease = (t) => (t < 0.5 ? 4 * t * t * t : 1 - (-2 * t + 2) ** 3 / 2);

export class MapControls {
  /**
   * @param {THREE.PerspectiveCamera} camera
   * @param {HTMLElement} dom the canvas
   * @param {{maxDistance: number, onUserInput?: () => void}} options
   *   onUserInput: called on every orbit, pan, zoom or fly key the user starts
   */
  constructor(camera, dom, { maxDistance, onUserInput = null }) {
    this.camera = camera;
    this.orbit = new OrbitControls(camera, dom);
    this.orbit.enableDamping = true;
    this.orbit.dampingFactor = 0.12;
    this.orbit.screenSpacePanning = true;
    this.orbit.zoomSpeed = 1.4;
    this.orbit.minDistance = 0.5;
    this.orbit.maxDistance = maxDistance;
    this.keys = new Set();
    this.flight = null;
    this.userMoved = false;
    this.userInput = () => {
      this.userMoved = true;
      onUserInput?.();
    };
    // OrbitControls says "start" for a drag, a touch and every wheel step.
    this.orbit.addEventListener("start", () => {
      this.userInput();
      this.cancelFlight();
    });
    this.onKeyDown = (event) => {
      if (typingInto(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (FLY_KEYS.has(event.code)) {
        this.keys.add(event.code);
        this.userInput();
        this.cancelFlight();
        event.preventDefault();
      }
      if (event.key === "Shift") this.fast = true;
    };
    this.onKeyUp = (event) => {
      this.keys.delete(event.code);
      if (event.key === "Shift") this.fast = false;
    };
    this.onBlur = () => {
      this.keys.clear();
      this.fast = false;
    };
    window.addEventListener("keydown", this.onKeyDown);
    window.addEventListener("keyup", this.onKeyUp);
    window.addEventListener("blur", this.onBlur);
  }

  get target() {
    return this.orbit.target;
  }

  get distance() {
    return this.camera.position.distanceTo(this.orbit.target);
  }

  /** Place the camera: look at `target` from `distance` along `direction` (default: the current one). */
  place(target, distance, direction = null) {
    const dir = direction ? new THREE.Vector3(...direction).normalize() : this.viewDirection();
    this.orbit.target.copy(target);
    this.camera.position.copy(target).addScaledVector(dir, distance);
    this.camera.lookAt(target);
    this.orbit.update();
  }

  /** Unit vector from the target to the camera. */
  viewDirection() {
    const d = this.camera.position.clone().sub(this.orbit.target);
    if (d.lengthSq() === 0) d.set(0, -0.8, 0.6);
    return d.normalize();
  }

  /** Glide to look at (x, y, z) from `distance` (default: keep the current distance). Resolves on arrival. */
  flyTo(x, y, z, distance) {
    this.cancelFlight();
    const to = new THREE.Vector3(Number(x), Number(y), Number(z));
    const toDist = Number.isFinite(Number(distance)) && Number(distance) > 0 ? Number(distance) : this.distance;
    return new Promise((resolve) => {
      this.flight = {
        fromTarget: this.orbit.target.clone(),
        toTarget: to,
        fromDist: Math.max(this.distance, 1e-3),
        toDist: Math.min(Math.max(toDist, this.orbit.minDistance), this.orbit.maxDistance),
        dir: this.viewDirection(),
        start: performance.now(),
        resolve,
      };
    });
  }

  cancelFlight() {
    if (this.flight) {
      const { resolve } = this.flight;
      this.flight = null;
      resolve(false);
    }
  }

  /** Advance one frame; returns true if the camera moved. */
  update(dtSeconds) {
    let moved = false;
    if (this.flight) {
      const f = this.flight;
      const t = Math.min(1, (performance.now() - f.start) / FLY_MS);
      const k = ease(t);
      const target = f.fromTarget.clone().lerp(f.toTarget, k);
      const dist = Math.exp(Math.log(f.fromDist) + (Math.log(f.toDist) - Math.log(f.fromDist)) * k);
      this.orbit.target.copy(target);
      this.camera.position.copy(target).addScaledVector(f.dir, dist);
      moved = true;
      if (t >= 1) {
        this.flight = null;
        f.resolve(true);
      }
    }
    if (this.keys.size > 0) {
      const speed = Math.max(this.distance, 1) * (this.fast ? 4 : 1) * Math.min(dtSeconds, 0.1);
      const forward = new THREE.Vector3();
      this.camera.getWorldDirection(forward);
      const right = new THREE.Vector3().crossVectors(forward, this.camera.up).normalize();
      const up = new THREE.Vector3().crossVectors(right, forward).normalize();
      const step = new THREE.Vector3();
      if (this.keys.has("KeyW")) step.add(forward);
      if (this.keys.has("KeyS")) step.sub(forward);
      if (this.keys.has("KeyD")) step.add(right);
      if (this.keys.has("KeyA")) step.sub(right);
      if (this.keys.has("KeyE")) step.add(up);
      if (this.keys.has("KeyQ")) step.sub(up);
      if (step.lengthSq() > 0) {
        step.normalize().multiplyScalar(speed);
        this.camera.position.add(step);
        this.orbit.target.add(step);
        moved = true;
      }
    }
    if (this.orbit.update()) moved = true;
    return moved;
  }

  dispose() {
    this.cancelFlight();
    window.removeEventListener("keydown", this.onKeyDown);
    window.removeEventListener("keyup", this.onKeyUp);
    window.removeEventListener("blur", this.onBlur);
    this.orbit.dispose();
  }
}
