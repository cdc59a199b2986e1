"""Migration folders in Prisma's order: JavaScript's ``localeCompare`` (ICU collation), which
Prisma 6 sorts ``migrations/`` with, not code points."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from schema_manager.sql.migration_order import sorted_ids

# As Node's ``localeCompare`` sorts them (checked with Node 20, ICU, en-US).
LOCALE_ORDER = [
    "1_a",
    "1-a",
    "10_a",
    "1a",
    "2",
    "20240101000000_",
    "20240101000000_Add Users",
    "20240101000000_add_users",
    "20240101000000_v1.2",
    "a_B",
    "a_c",
    "A_c",
    "ae",
    "Ae",
    "aé",
    "æ",
    "b",
    "café",
    "cafe_",
    "caff",
]


def test_names_sort_as_prisma_sorts_them_not_by_code_point():
    assert sorted_ids(reversed(LOCALE_ORDER)) == LOCALE_ORDER
    assert sorted(LOCALE_ORDER) != LOCALE_ORDER  # code points differ: the case matters


def test_prisma_s_own_names_sort_as_by_code_point():
    names = [
        f"2024{month:02}{day:02}000000_{slug}"
        for month in (1, 11)
        for day in (1, 9, 10)
        for slug in ("", "init", "add_users", "add_users_2")
    ]
    assert sorted_ids(names) == sorted(names)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to compare with")
def test_the_order_is_node_s_localecompare_on_random_names():
    rng = random.Random(20)
    alphabet = [chr(i) for i in range(32, 127)] + list("éèêÉàÀçÇüÜöÖñÑßæøłåı")
    names = sorted(
        {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(3000)}
    )
    script = (
        "const a = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "a.sort((x, y) => x.localeCompare(y)); console.log(JSON.stringify(a));"
    )
    node = subprocess.run(
        ["node", "-e", script], input=json.dumps(names), capture_output=True, text=True, check=True
    )
    assert sorted_ids(names) == json.loads(node.stdout)


def test_the_ascii_shortcut_gives_the_general_key():
    """Names of printable ASCII take a shortcut (no Unicode normalisation per character); it
    must give exactly the key the general path gives, for every character and mix of them."""
    from schema_manager.sql.migration_order import _ascii_key, _unicode_key

    characters = [chr(code) for code in range(32, 127)]
    rng = random.Random(20261206)
    names = characters + [
        "".join(rng.choices(characters, k=rng.randint(1, 40))) for _ in range(2000)
    ]
    for name in names:
        assert _ascii_key(name) == _unicode_key(name), name
