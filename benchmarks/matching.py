"""Matching speed: directory people × app accounts, and how it grows with size.

Target: 100,000 people × 10,000 accounts matched in under 2 s, linear in size.
Run: .venv/bin/python benchmarks/matching.py
"""

from __future__ import annotations

import random
import time

from bastion.matching import DirectoryIndex, Identity, Person, SuggestionIndex, match_accounts


def build(people_count: int, account_count: int) -> tuple[list[Person], list[Identity]]:
    rng = random.Random(7)
    people = [
        Person(
            user_id=i,
            email=f"person{i}@acme.com",
            other_emails=(f"p{i}@acme.io",) if i % 5 == 0 else (),
            name=f"Person {i}",
            active=i % 10 != 0,
        )
        for i in range(people_count)
    ]
    identities = []
    for n in range(account_count):
        target = rng.randrange(people_count)
        form = n % 4
        email = {
            0: f"Person{target}@ACME.com",
            1: f"p{target - target % 5}@acme.io",
            2: f"person{target}+ads@acme.com",
            3: f"stranger{n}@agency.com",
        }[form]
        identities.append(Identity(account_id=n, email=email, name=f"Person {target}"))
    return people, identities


def measure(people_count: int, account_count: int) -> tuple[float, int]:
    people, identities = build(people_count, account_count)
    started = time.perf_counter()
    index = DirectoryIndex(people)
    matches = match_accounts(identities, index)
    elapsed = time.perf_counter() - started
    return elapsed, sum(1 for m in matches.values() if m is not None)


def main() -> None:
    print(f"{'people':>9} {'accounts':>9} {'seconds':>8} {'matched':>8} {'µs/row':>7}")
    for people_count, account_count in ((25_000, 2_500), (50_000, 5_000), (100_000, 10_000)):
        elapsed, matched = measure(people_count, account_count)
        per_row = elapsed / (people_count + account_count) * 1e6
        print(f"{people_count:>9} {account_count:>9} {elapsed:>8.3f} {matched:>8} {per_row:>7.2f}")
    people, identities = build(100_000, 10)
    suggestions = SuggestionIndex(people)
    started = time.perf_counter()
    for identity in identities:
        suggestions.suggest(identity)
    per_call = (time.perf_counter() - started) / len(identities) * 1000
    print(f"suggestions over 100,000 people: {per_call:.1f} ms per account (match dialog)")


if __name__ == "__main__":
    main()
