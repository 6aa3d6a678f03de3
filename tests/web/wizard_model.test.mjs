// node --test tests/web/wizard_model.test.mjs
//
// The System Entry Wizard's model (haven/web/static/js/wizard-model.js): which names are
// duplicates, when a draft has unsaved changes, and how a draft is kept in sessionStorage.

import test from "node:test";
import assert from "node:assert/strict";

import {
  draftFrom,
  draftKey,
  duplicateNames,
  hasChanges,
  readStoredDraft,
  storedDraft,
} from "../../haven/web/static/js/wizard-model.js";

const SYSTEM = {
  id: 7,
  version: 3,
  galaxy: "Euclid",
  name: "Kept",
  region: "",
  x: 1,
  y: 2.5,
  z: -3,
  fauna: null,
  legacy_id: "K-1",
  extra: { colour: "teal" },
  planets: [{ name: "Kept I", notes: "", extra: {}, moons: [{ name: "Kept I a", orbit_radius: 3, extra: { lock: true } }] }],
  space_station: { name: "Hub", sell_percent: 12.5, extra: {} },
};

test("duplicate names are found as the server compares them (trimmed), empty names are not", () => {
  assert.deepEqual(duplicateNames(["Same", "Other", " Same "]), [0, 2]);
  assert.deepEqual(duplicateNames(["a", "b", "a", "b", "c"]), [0, 1, 2, 3]);
  assert.deepEqual(duplicateNames(["", " ", "x"]), []);
  assert.deepEqual(duplicateNames(["Case", "case"]), []);
  assert.deepEqual(duplicateNames([]), []);
});

test("a draft as loaded has no changes; typing the old text back is no change either", () => {
  const draft = draftFrom(SYSTEM);
  assert.equal(hasChanges(draft, SYSTEM), false);
  draft.system.values.fauna = "Rich";
  assert.equal(hasChanges(draft, SYSTEM), true);
  draft.system.values.fauna = "";
  assert.equal(hasChanges(draft, SYSTEM), false);
  draft.system.values.y = "2.50"; // the same number written another way: the same would be sent
  assert.equal(hasChanges(draft, SYSTEM), false);
  draft.system.values.y = "2.5";
  draft.planets[0].moons.pop();
  assert.equal(hasChanges(draft, SYSTEM), true);
});

test("a station ticked and unticked again, or a blank new system, is no change", () => {
  const blank = draftFrom(null);
  assert.equal(hasChanges(blank, null), false);
  blank.hasStation = true;
  blank.station = draftFrom({ space_station: { name: "" } }).station;
  assert.equal(hasChanges(blank, null), true);
  blank.hasStation = false;
  assert.equal(hasChanges(blank, null), false);
  blank.system.values.name = "Something";
  assert.equal(hasChanges(blank, null), true);
});

test("keys tell galaxies and systems apart, whatever the galaxy is called", () => {
  assert.notEqual(draftKey(null, null), draftKey(null, 7));
  assert.equal(draftKey(null, 7), draftKey(null, "7"));
  assert.notEqual(draftKey("A", 7), draftKey("B", 7));
  assert.notEqual(draftKey('x","new', null), draftKey("x", null));
  assert.equal(draftKey(null, null), draftKey("", undefined));
});

test("a stored draft reads back as it was, for the same system only", () => {
  const draft = draftFrom(SYSTEM);
  draft.system.values.fauna = "<b>Rich</b>";
  const text = storedDraft(SYSTEM, draft);
  const back = readStoredDraft(text, 7);
  assert.deepEqual(back.base, SYSTEM);
  assert.deepEqual(back.draft, draft);
  assert.equal(hasChanges(back.draft, back.base), true);
  assert.equal(readStoredDraft(text, 8), null);
  assert.equal(readStoredDraft(text, null), null);

  const fresh = draftFrom(null);
  fresh.system.values.name = "New one";
  const kept = readStoredDraft(storedDraft(null, fresh), null);
  assert.equal(kept.base, null);
  assert.equal(kept.draft.system.values.name, "New one");
});

test("anything else in storage is ignored", () => {
  for (const text of [null, "", "{", "[]", "null", JSON.stringify({ format: 99, base: null, draft: draftFrom(null) }),
    JSON.stringify({ format: 1, base: null, draft: { system: {} } }),
    JSON.stringify({ format: 1, base: null, draft: { ...draftFrom(null), planets: [{ values: {}, orig: {}, extra: {} }] } }),
    JSON.stringify({ format: 1, base: { id: 7 }, draft: draftFrom(null) })]) {
    assert.equal(readStoredDraft(text, text?.includes('"id":7') ? 7 : null), null, String(text));
  }
});
