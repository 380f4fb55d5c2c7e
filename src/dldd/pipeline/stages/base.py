"""What a stage is: the inputs it needs, its parameters (a pydantic model) and the function that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base of every stage's parameters: unknown keys are refused, so a misspelt option never passes."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    needs: tuple[str, ...]
    params: type[Params]
    run: Callable  # run(ctx: RunContext, params: Params) -> None
    optional: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # stages whose products this one uses when they run
