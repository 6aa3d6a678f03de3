// How a system's and a body's text fields are labelled in details panels.

/** [field, label] pairs of a system, in display order. */
export const SYSTEM_FIELDS = [
  ["sentinel", "Sentinels"],
  ["fauna", "Fauna"],
  ["flora", "Flora"],
  ["materials", "Materials"],
  ["base_location", "Base"],
  ["attributes", "Attributes"],
  ["glyph", "Glyph"],
];
