"""What the zoo covers, counted (``modelexport zoo list`` prints it), and which of its cases the
installed transformers cannot build (a model type or head added after it)."""

from __future__ import annotations

from dataclasses import dataclass

from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..tasks import MODEL_TYPE_ORT_CLASSES, TASKS
from .archs import ARCHS
from .build import find_head_class
from .spec import ArchSpec

_GENERATIVE = frozenset(
    {"text-generation", "text-generation-with-past", "text2text-generation", "text2text-generation-with-past"}
)


def absent_model_type(spec: ArchSpec) -> str | None:
    """Why the installed transformers has no model type for ``spec`` (added after it, or removed:
    MCTCT in 5.x), or None when it has one."""
    import transformers

    if spec.model_type in CONFIG_MAPPING:
        return None
    return f"transformers {transformers.__version__} has no model type '{spec.model_type}'"


def unavailable_reason(spec: ArchSpec, task: str) -> str | None:
    """Why the installed transformers cannot build (``spec``, ``task``), or None when it can."""
    import transformers

    absent = absent_model_type(spec)
    if absent:
        return absent
    if find_head_class(spec.model_type, task) is None:
        return f"transformers {transformers.__version__} has no '{task}' head for '{spec.model_type}'"
    return None


@dataclass(frozen=True)
class ZooSummary:
    model_types: int
    registered: int  # Optimum registers the type, and the zoo exports at least one of its tasks
    registered_pending_only: int  # Optimum registers the type; every task of it is pending
    beyond_non_generative: int
    beyond_generative: int
    tasks: int
    ort_classes: int
    pending_tasks: int

    def describe(self) -> str:
        return (
            f"{self.model_types} model types: {self.registered} that Optimum registers "
            f"(+{self.registered_pending_only} with pending tasks only), "
            f"{self.beyond_non_generative + self.beyond_generative} it does not "
            f"({self.beyond_non_generative} non-generative, {self.beyond_generative} generative); "
            f"{self.tasks} tasks over {self.ort_classes} ORTModel classes; {self.pending_tasks} (type, task) pending"
        )


def zoo_summary() -> ZooSummary:
    """The zoo's counts (by its specs; types the installed transformers lacks are counted too)."""
    specs = list(ARCHS.values())
    registered = [s for s in specs if s.optimum]
    beyond = [s for s in specs if not s.optimum]
    tasks = {t for s in specs for t in s.tasks}
    ort = {TASKS[t].ort_class for t in tasks if t in TASKS} | {
        TASKS[t].fallback_ort_class for t in tasks if t in TASKS
    }
    ort |= {
        c
        for (model_type, task), c in MODEL_TYPE_ORT_CLASSES.items()
        if any(s.model_type == model_type and task in s.tasks for s in specs)
    }
    return ZooSummary(
        model_types=len({s.model_type for s in specs}),
        registered=len({s.model_type for s in registered if s.tasks}),
        registered_pending_only=len({s.model_type for s in registered if not s.tasks}),
        beyond_non_generative=sum(1 for s in beyond if not _GENERATIVE & set(s.tasks)),
        beyond_generative=sum(1 for s in beyond if _GENERATIVE & set(s.tasks)),
        tasks=len(tasks),
        ort_classes=len(ort),
        pending_tasks=sum(len(s.pending) for s in specs),
    )
