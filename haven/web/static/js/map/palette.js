// Region colours: one stable colour per region index, the same in JavaScript and GLSL.
//
// A chunk carries a region index per star (0 = no region). The hue walks the
// colour wheel by the golden ratio, so neighbouring indices get clearly
// different colours, and the same index gets the same colour on every visit.

/** Stars without a region: warm white. */
export const NO_REGION_RGB = [1.0, 0.93, 0.82];

const GOLDEN = 0.61803398875;

function fract(x) {
  return x - Math.floor(x);
}

/** HSV (all 0..1) to [r, g, b] (0..1), the same formula as `hsv2rgb` in the shader. */
function hsvToRgb(h, s, v) {
  const out = [0, 0, 0];
  const k = [1.0, 2.0 / 3.0, 1.0 / 3.0];
  for (let i = 0; i < 3; i++) {
    const p = Math.abs(fract(h + k[i]) * 6.0 - 3.0);
    const c = Math.min(Math.max(p - 1.0, 0.0), 1.0);
    out[i] = v * (1.0 + s * (c - 1.0));
  }
  return out;
}

/** [r, g, b] in 0..1 for a region index. */
export function regionColour(index) {
  const r = Number(index) || 0;
  if (r < 0.5) return NO_REGION_RGB.slice();
  const h = fract(r * GOLDEN + 0.13);
  const s = 0.5 + 0.15 * (r % 3);
  return hsvToRgb(h, s, 1.0);
}

/** A CSS colour for a region index (legend swatches, details panel). */
export function regionCss(index) {
  const [r, g, b] = regionColour(index).map((c) => Math.round(c * 255));
  return `rgb(${r}, ${g}, ${b})`;
}

/** GLSL twin of regionColour(), for the star shader. */
export const REGION_COLOUR_GLSL = /* glsl */ `
vec3 hsv2rgb(vec3 c) {
  vec3 p = abs(fract(c.xxx + vec3(1.0, 2.0 / 3.0, 1.0 / 3.0)) * 6.0 - 3.0);
  return c.z * (1.0 + c.y * (clamp(p - 1.0, 0.0, 1.0) - 1.0));
}
vec3 regionColour(float r) {
  if (r < 0.5) return vec3(${NO_REGION_RGB.map((v) => v.toFixed(4)).join(", ")});
  float h = fract(r * ${GOLDEN} + 0.13);
  float s = 0.5 + 0.15 * mod(r, 3.0);
  return hsv2rgb(vec3(h, s, 1.0));
}
`;
