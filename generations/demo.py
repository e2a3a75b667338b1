"""Demo data of generations: sandbox vendor accounts and sample clips."""


def seed(team) -> list[str]:
    return []
