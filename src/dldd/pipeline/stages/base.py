"""What a stage is: the inputs it needs, its parameters (a pydantic model), the function that runs it, and
its declared contract: the products and tables it provides, the products it consumes or uses
(:mod:`dldd.pipeline.contracts`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from dldd.pipeline.contracts import Product, Table


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
    #: Maps, in-run products and tables the stage writes (every one it writes must be declared).
    provides: tuple[Product | Table, ...] = ()
    #: Products the stage cannot run without: an earlier stage of the run must provide them.
    consumes: tuple[str, ...] = ()
    #: Products the stage reads when an earlier stage of the run provided them.
    uses: tuple[str, ...] = ()
    #: Checks of the spec's inputs against the parameters that need no data: ``check(given, params)`` with
    #: ``given`` the names of the spec's inputs, raising InputError; run at ``dldd spec check`` and before a
    #: run's first stage (not after the stages before this one have computed).
    check: Callable | None = None
