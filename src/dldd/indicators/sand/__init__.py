"""Wind and sand (METHODS 5): ``drift`` (Fryberger drift potential) and ``rweq`` (RWEQ sand fixation)."""
