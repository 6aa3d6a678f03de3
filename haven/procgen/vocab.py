"""Vocabularies shared by the galaxy generator and the on-demand detail deriver.

Everything here is a plain constant: changing any list changes generated galaxies,
so treat edits as a format change.

Search-friendliness invariants (checked in tests):
  * the only vocabulary entry containing "gold" (any case) is the material ``"Gold"``;
  * syllable words can never contain "gold": the letter ``l`` only occurs at the end of an
    onset, and an onset is always followed by a vowel nucleus, so ``"ld"`` is impossible.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------- syllables
#: Consonant onsets for syllables that may start a word (the empty onset is allowed).
ONSETS: tuple[str, ...] = (
    "b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
    "th", "sh", "kr", "tr", "vr", "dr", "bl", "kl", "sk", "st", "zh", "ch",
)
#: Vowel nuclei; every syllable has exactly one.
NUCLEI: tuple[str, ...] = ("a", "e", "i", "o", "u", "ae", "ai", "ou", "ei", "ia", "y")
#: Codas that may be followed by another syllable (kept soft for pronounceability).
SOFT_CODAS: tuple[str, ...] = ("", "", "", "n", "r", "s", "m")
#: Codas allowed on the final syllable of a word.
FINAL_CODAS: tuple[str, ...] = ("", "", "", "n", "r", "s", "m", "x", "th", "sk", "nd", "v")

# ----------------------------------------------------------------------- system codes
#: Letters used in the unique system code (I and O are left out: they read as digits).
CODE_LETTERS: str = "ABCDEFGHJKLMNPQRSTUVWXYZ"

# ------------------------------------------------------------------------ categoricals
#: Abundance levels of fauna / flora, poorest first.
LIFE_LEVELS: tuple[str, ...] = (
    "None", "Scarce", "Sparse", "Moderate", "Plentiful", "Abundant", "Bountiful",
)
#: Baseline probabilities of ``LIFE_LEVELS`` (skewed: barren is much more common).
LIFE_WEIGHTS: tuple[float, ...] = (0.36, 0.19, 0.14, 0.11, 0.09, 0.07, 0.04)

#: Sentinel activity levels, calmest first.
SENTINEL_LEVELS: tuple[str, ...] = (
    "None", "Low", "Limited", "Regular", "High", "Aggressive", "Frenzied",
)
#: Baseline probabilities of ``SENTINEL_LEVELS``.
SENTINEL_WEIGHTS: tuple[float, ...] = (0.10, 0.22, 0.22, 0.21, 0.13, 0.09, 0.03)

# --------------------------------------------------------------------------- materials
#: Non-gold materials ordered from most to least common; weights follow a Zipf law.
COMMON_TO_RARE_MATERIALS: tuple[str, ...] = (
    "Carbon", "Ferrite", "Oxygen", "Silicate", "Sodium", "Hydrogen", "Copper", "Ammonia",
    "Salt", "Sulphur", "Cobalt", "Nickel", "Phosphorus", "Iron Dust", "Basalt", "Quartz",
    "Magnesium", "Tritium", "Chlorine", "Frost Crystals", "Titanium", "Helium-3",
    "Lithium", "Uranium", "Silver", "Pyrite", "Cinnabar", "Obsidian", "Radon", "Xenon",
    "Cadmium", "Indium", "Platinum", "Star Bloom", "Glowcap Spores", "Emeralite",
    "Chromatic Ore", "Void Pearl", "Living Glass", "Neutronium", "Aetherium",
)
#: The special material whose frequency is pinned (about 5 % of systems).
GOLD: str = "Gold"
#: Probability that a system (or planet) lists Gold among its materials.
GOLD_PROBABILITY: float = 0.05
#: Full vocabulary in canonical display order (Gold sits among the mid-rare metals).
MATERIALS: tuple[str, ...] = (
    COMMON_TO_RARE_MATERIALS[:24] + (GOLD,) + COMMON_TO_RARE_MATERIALS[24:]
)
#: Zipf exponent for the non-gold materials.
MATERIAL_ZIPF_EXPONENT: float = 1.35
#: Probabilities of listing 2, 3 or 4 materials.
MATERIAL_COUNT_WEIGHTS: tuple[float, float, float] = (0.35, 0.40, 0.25)
#: Separator between materials in the flat string column.
MATERIAL_SEPARATOR: str = ", "


def material_weights() -> list[float]:
    """Zipf weights (unnormalised) aligned with ``MATERIALS``; Gold has weight 0."""
    rank = {m: i for i, m in enumerate(COMMON_TO_RARE_MATERIALS)}
    return [
        0.0 if m == GOLD else 1.0 / (rank[m] + 1) ** MATERIAL_ZIPF_EXPONENT
        for m in MATERIALS
    ]


# ----------------------------------------------------------------------------- regions
#: Region kind words by zone: core, inner disk, middle disk, outer disk.
CORE_KIND: str = "Core"
INNER_KINDS: tuple[str, ...] = ("Crown", "Cluster", "Forge", "Halo", "Furnace", "Spire")
MIDDLE_KINDS: tuple[str, ...] = (
    "Expanse", "Reach", "Shoals", "Drift", "Straits", "Gulf", "Basin", "Veil", "Tide",
)
OUTER_KINDS: tuple[str, ...] = ("Fringe", "Verge", "Marches", "Barrens", "Wilds", "Deep")

# ------------------------------------------------------------------- planets & stations
#: Planet biomes with (min °C, max °C, life factor 0..1).
BIOMES: dict[str, tuple[float, float, float]] = {
    "Lush": (12.0, 32.0, 1.0),
    "Ocean": (4.0, 28.0, 0.9),
    "Marsh": (15.0, 38.0, 0.8),
    "Temperate": (5.0, 24.0, 0.85),
    "Arid": (30.0, 65.0, 0.35),
    "Frozen": (-120.0, -15.0, 0.25),
    "Toxic": (-10.0, 90.0, 0.3),
    "Irradiated": (-40.0, 70.0, 0.2),
    "Scorched": (90.0, 420.0, 0.1),
    "Volcanic": (150.0, 650.0, 0.05),
    "Barren": (-60.0, 40.0, 0.1),
    "Exotic": (-30.0, 60.0, 0.6),
    "Dead": (-200.0, -80.0, 0.0),
}
#: Relative frequency of each biome (same key order as ``BIOMES``).
BIOME_WEIGHTS: tuple[float, ...] = (6, 4, 4, 5, 9, 10, 8, 6, 7, 4, 14, 2, 9)
#: Moons are more often airless.
MOON_BIOME_WEIGHTS: tuple[float, ...] = (1, 1, 1, 1, 6, 12, 5, 6, 5, 3, 25, 2, 20)

#: Occasional planet notes (most planets get an empty note).
PLANET_NOTES: tuple[str, ...] = (
    "Ancient ruins near the equator.",
    "Frequent electrical storms.",
    "Crystal spires visible from orbit.",
    "Abandoned mining outpost on the surface.",
    "Strong magnetic anomalies.",
    "Bioluminescent forests on the night side.",
    "Crashed freighter reported in the northern wastes.",
    "Tidal forces cause violent quakes.",
    "Underground caverns with warm springs.",
    "Rings of ice debris.",
    "Signal beacon broadcasting an unknown pattern.",
    "Dust storms last for weeks.",
)
#: Probability that a planet or moon carries a note.
NOTE_PROBABILITY: float = 0.3

#: Species that may crew a space station.
STATION_RACES: tuple[str, ...] = ("Velari", "Ossk", "Thrune", "Mekhari", "Unaffiliated")
#: Station type words.
STATION_KINDS: tuple[str, ...] = (
    "Station", "Outpost", "Exchange", "Waypoint", "Dock", "Terminal", "Citadel",
)
#: Fraction of systems without a space station.
NO_STATION_PROBABILITY: float = 0.2

#: Roman numerals used as planet ordinals.
ROMAN: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII")
