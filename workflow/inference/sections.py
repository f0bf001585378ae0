"""Settings objects built from one validated section of the config.

The schema (``workflow/schemas/config.schema.yaml``) holds every default, and validation
(:func:`workflow.config.validate_config`) fills them in, so a validated section has every key.
The settings dataclasses (:class:`~workflow.inference.npe.NPEConfig`,
:class:`~workflow.inference.metrics.MetricsConfig`, :class:`~workflow.inference.explain.ShapConfig`)
therefore have no defaults of their own: :meth:`ConfigSection.from_config` takes exactly the
section's keys and names any key that is missing or unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self


class ConfigSection:
    """Mixin of a frozen settings dataclass that mirrors one config section.

    Attributes:
        KEY: dotted config key of the section (e.g. ``"inference.npe"``); errors name
            ``KEY.<field>``.
    """

    KEY: ClassVar[str]

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Self:
        """Build from the validated config section (every key present, schema defaults filled in).

        Args:
            section: the section, e.g. ``config["inference"]["npe"]`` after validation.

        Raises:
            ValueError: naming ``KEY.<key>`` for a missing or unknown key, or a bad value.
        """
        if not isinstance(section, Mapping):
            raise ValueError(f"{cls.KEY} must be a mapping, got {type(section).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        missing = [name for name in names if name not in section]
        if missing:
            raise ValueError(
                f"{cls.KEY}.{missing[0]} is missing (pass the validated config: the schema fills every default)"
            )
        unknown = sorted(set(section) - set(names))
        if unknown:
            raise ValueError(f"{cls.KEY}.{unknown[0]}: unknown key (allowed: {', '.join(names)})")
        return cls(**{name: section[name] for name in names})

    def _check_at_least(self, minimum: int | float, *keys: str) -> None:
        """Raise ValueError naming ``KEY.<key>`` for the first of ``keys`` below ``minimum``."""
        for key in keys:
            value = getattr(self, key)
            if value < minimum:
                raise ValueError(f"{self.KEY}.{key} must be >= {minimum}, got {value}")
