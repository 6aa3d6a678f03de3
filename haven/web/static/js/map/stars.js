// How stars look: one shared shader material for every chunk, and a marker layer
// for highlighted or selected systems.
//
// Stars have a small size in light years, so near ones grow on screen, but
// never below `minPx` (so every star stays visible) nor above `maxPx`.
// Colour comes from the region index; a highlighted region keeps its colour
// and the rest of the galaxy is dimmed.

import * as THREE from "three";
import { REGION_COLOUR_GLSL } from "./palette.js";

/** Highlight modes of the star material. */
export const HIGHLIGHT_NONE = 0;
export const HIGHLIGHT_REGION = 1;
export const HIGHLIGHT_DIM_ALL = 2;

const STAR_VERTEX = /* glsl */ `
attribute float region;
uniform float uPixelScale;
uniform float uStarSize;
uniform float uMinPx;
uniform float uMaxPx;
uniform float uMode;
uniform float uRegion;
uniform float uDim;
varying vec3 vColour;
varying float vAlpha;
${REGION_COLOUR_GLSL}
void main() {
  vec4 mv = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mv;
  float px = uStarSize * uPixelScale / max(-mv.z, 1e-3);
  bool lit = uMode < 0.5 || (uMode < 1.5 && abs(region - uRegion) < 0.5);
  float maxPx = (uMode > 0.5 && lit) ? uMaxPx * 1.5 : uMaxPx;
  float minPx = (uMode > 0.5 && lit) ? uMinPx + 1.0 : uMinPx;
  gl_PointSize = clamp(px, minPx, maxPx);
  vColour = regionColour(region);
  vAlpha = lit ? 1.0 : uDim;
}
`;

const STAR_FRAGMENT = /* glsl */ `
varying vec3 vColour;
varying float vAlpha;
void main() {
  vec2 c = gl_PointCoord - vec2(0.5);
  float d2 = dot(c, c);
  if (d2 > 0.25) discard;
  float core = 1.0 - 0.6 * smoothstep(0.02, 0.25, d2);
  gl_FragColor = vec4(vColour, vAlpha * core);
}
`;

/** The material every chunk's THREE.Points shares. */
export function createStarMaterial({ pixelRatio = 1 } = {}) {
  return new THREE.ShaderMaterial({
    uniforms: {
      uPixelScale: { value: 1 },
      uStarSize: { value: 3.0 },
      uMinPx: { value: 2.0 * pixelRatio },
      uMaxPx: { value: 7.0 * pixelRatio },
      uMode: { value: HIGHLIGHT_NONE },
      uRegion: { value: -1 },
      uDim: { value: 0.18 },
    },
    vertexShader: STAR_VERTEX,
    fragmentShader: STAR_FRAGMENT,
    transparent: true,
    depthTest: false,
    depthWrite: false,
    blending: THREE.AdditiveBlending,
  });
}

/** Keep the size scale in step with the camera and the drawing buffer. */
export function updateStarMaterial(material, camera, drawingHeightPx) {
  const fov = THREE.MathUtils.degToRad(camera.fov);
  material.uniforms.uPixelScale.value = drawingHeightPx / 2 / Math.tan(fov / 2);
}

const MARKER_VERTEX = /* glsl */ `
uniform float uSize;
void main() {
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
  gl_PointSize = uSize;
}
`;

const MARKER_FRAGMENT = /* glsl */ `
uniform vec3 uColour;
void main() {
  float d = length(gl_PointCoord - vec2(0.5));
  if (d > 0.5 || d < 0.28) discard;
  gl_FragColor = vec4(uColour, 1.0);
}
`;

/**
 * A layer of ring markers at absolute positions (highlighted systems, the selection).
 * set([[x, y, z], ...]) replaces the markers; clear() removes them.
 */
export class MarkerLayer {
  constructor(scene, { colour = 0x7ff6ff, sizePx = 12, pixelRatio = 1, order = 10 } = {}) {
    this.scene = scene;
    this.material = new THREE.ShaderMaterial({
      uniforms: { uSize: { value: sizePx * pixelRatio }, uColour: { value: new THREE.Color(colour) } },
      vertexShader: MARKER_VERTEX,
      fragmentShader: MARKER_FRAGMENT,
      transparent: true,
      depthTest: false,
      depthWrite: false,
    });
    this.points = null;
    this.order = order;
    this.count = 0;
  }

  set(positions) {
    this.clear();
    if (!positions.length) return;
    // Markers sit relative to their centroid, so float32 keeps them exact far from the galaxy centre.
    const c = [0, 1, 2].map((a) => positions.reduce((s, p) => s + p[a], 0) / positions.length);
    const array = new Float32Array(positions.length * 3);
    positions.forEach((p, i) => {
      array[3 * i] = p[0] - c[0];
      array[3 * i + 1] = p[1] - c[1];
      array[3 * i + 2] = p[2] - c[2];
    });
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.BufferAttribute(array, 3));
    this.points = new THREE.Points(geometry, this.material);
    this.points.position.set(c[0], c[1], c[2]);
    this.points.frustumCulled = false;
    this.points.renderOrder = this.order;
    this.scene.add(this.points);
    this.count = positions.length;
  }

  clear() {
    if (this.points) {
      this.scene.remove(this.points);
      this.points.geometry.dispose();
      this.points = null;
    }
    this.count = 0;
  }

  dispose() {
    this.clear();
    this.material.dispose();
  }
}
