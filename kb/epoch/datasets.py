"""What each of Epoch AI's three datasets holds, and which of its columns become claims of which property.

A file is recognised by its header. Columns are mapped one by one: the unit is the one the header
names (``byte/s``, ``bit/s``, ``MW``, ``FLOP``); ``(log)`` columns, and columns that repeat another
(``Power Capacity (MW)`` is whichever of the reported and calculated ones was used, ``Hardware Cost``
likewise), are not imported. Epoch's peak-throughput columns are dense figures (the H100 SXM row gives
989.4 TFLOP/s for Tensor-FP16/BF16), so they map to the ``dense_*`` properties; the non-tensor
``FP16 (half precision)`` column (133.8 TFLOP/s on the H100) has no property and is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Row = Mapping[str, str]


@dataclass(frozen=True)
class Column:
    header: str
    prop: str
    unit: str
    method: str = "reported"
    note: str | None = None  # a column of notes on this column's claims
    quote: str | None = None  # a column quoting the row's source for this column
    scale: float = 1.0  # 0.52 (a fraction) -> 52 (%)
    dollar_year: str | None = None
    only_if: Callable[[Row], bool] | None = None  # e.g. a dataset size counts tokens only for language models
    cites: tuple[str, ...] = ()  # columns whose URLs this column's claims cite, beside the row's links
    conditions: str | Callable[[Row], str | None] | None = None  # a column naming what the figure is of (the
    # chip a count counts), or a function of the row giving the phrase
    scope: str | None = None  # the scope qualifier of every claim (a power figure's: facility)
    configuration: Callable[[Row], str | None] | None = None  # a row's configuration qualifier for the claim


@dataclass(frozen=True)
class Dataset:
    key: str  # hardware | clusters | models
    file: str  # the file name Epoch AI publishes it under (named in every locator)
    title: str
    url: str
    kind: str  # the kind of entity a row is
    name: str  # the column naming the row
    date: str  # the column giving the claims' as-of
    signature: tuple[str, ...]  # headers that identify the file
    columns: tuple[Column, ...]
    row_links: tuple[str, ...] = ()  # columns of URLs the row cites
    confidence: str | None = None
    status: str | None = None
    row_notes: tuple[str, ...] = ()  # notes on every claim of the row
    quote: str | None = None  # a quote supporting the row's claims
    method_column: str | None = None  # an estimation-method column (reported, operation counting, ...)


def _language(row: Row) -> bool:
    return "language" in (row.get("Domain") or "").casefold()


def _chip(row: Row, which: str) -> str:
    return " ".join((row.get(f"Chip type ({which})") or "").split())


def _one_chip_total(row: Row) -> bool:
    """Whether the row's total number of AI chips are all of its primary chip type."""
    if _chip(row, "secondary"):
        return False
    primary, total = (row.get("Chip quantity (primary)") or "").strip(), (row.get("Total number of AI chips") or "").strip()
    try:
        return not primary or float(primary) == float(total)
    except ValueError:
        return False


def _chip_kind(which: str) -> Callable[[Row], str | None]:
    """A mixed cluster's count of one chip type is of the configuration named by that chip (nvidia-v100),
    so it is a kind of claim of its own: it competes neither with the other type's count nor the total."""
    from .cells import slug

    return lambda row: slug(chip) if (chip := _chip(row, which)) else None


def _total_kind(row: Row) -> str | None:
    """A total over several chip types is its own kind of claim too (configuration all-chip-types)."""
    return None if _one_chip_total(row) else "all-chip-types"


def _total_of(row: Row) -> str | None:
    """A cluster's total chip count is of its primary chip when that is all it has; else of all its chips."""
    if _one_chip_total(row):
        return f"of {_chip(row, 'primary')}" if _chip(row, "primary") else None
    return "of all its AI chips"


HARDWARE = Dataset(
    key="hardware", file="ml_hardware.csv", title="Machine Learning Hardware",
    url="https://epoch.ai/data/machine-learning-hardware", kind="accelerator", name="Hardware name",
    date="Release date", signature=("Hardware name", "Tensor-FP16/BF16 performance (FLOP/s)", "TDP (W)"),
    row_links=("Link to datasheet",),
    columns=(
        Column("Release price (USD)", "release_price", "USD", cites=("Source for the price",),
               note="Source for the price"),
        Column("FP64 (double precision) performance (FLOP/s)", "fp64_flops", "FLOP/s"),
        Column("FP32 (single precision) performance (FLOP/s)", "fp32_flops", "FLOP/s"),
        Column("TF32 (TensorFloat-32) performance (FLOP/s)", "dense_tf32_flops", "FLOP/s"),
        Column("Tensor-FP16/BF16 performance (FLOP/s)", "dense_bf16_flops", "FLOP/s"),
        Column("FP8 performance (FLOP/s)", "dense_fp8_flops", "FLOP/s"),
        Column("FP4 performance (FLOP/s)", "dense_fp4_flops", "FLOP/s"),
        Column("INT8 performance (OP/s)", "dense_int8_ops", "OP/s"),
        Column("Memory size per board (Byte)", "memory_size", "byte"),
        Column("Memory bandwidth (byte/s)", "hbm_bandwidth", "byte/s"),
        Column("Intranode bandwidth (byte/s)", "scaleup_bandwidth", "byte/s"),
        Column("Internode bandwidth (bit/s)", "internode_bandwidth", "bit/s"),
        Column("TDP (W)", "tdp", "W"),
    ),
)

CLUSTERS = Dataset(
    key="clusters", file="gpu_clusters.csv", title="GPU Clusters", url="https://epoch.ai/data/gpu-clusters",
    kind="cluster", name="Name", date="First Operational Date",
    signature=("Name", "Certainty", "Calculated Power Capacity (MW)", "H100 equivalents"),
    row_links=("Source 1", "Source 2", "Source 3", "Source 4", "Source 5"),
    confidence="Certainty", status="Status", row_notes=("Note", "Certainty Note"), quote="Quote",
    columns=(
        Column("Total number of AI chips", "gpu_count", "", note="Hardware note", conditions=_total_of,
               configuration=_total_kind),
        # per chip type where the total mixes types (or counts chips the dataset does not type)
        Column("Chip quantity (primary)", "gpu_count", "", conditions="Chip type (primary)",
               only_if=lambda row: not _one_chip_total(row), configuration=_chip_kind("primary")),
        Column("Chip quantity (secondary)", "gpu_count", "", conditions="Chip type (secondary)",
               configuration=_chip_kind("secondary")),
        Column("H100 equivalents", "h100_equivalents", "", method="calculated"),
        # the dataset's power capacities are of the whole facility (the calculated one includes a PUE)
        Column("Reported Power Capacity (MW)", "site_power", "MW", scope="facility"),
        Column("Calculated Power Capacity (MW)", "site_power", "MW", method="calculated", scope="facility"),
        Column("Reported Cost", "capex", "USD", quote="Cost Quote"),
        Column("Calculated Cost", "capex", "USD", method="calculated"),
    ),
)

MODELS = Dataset(
    key="models", file="notable_ai_models.csv", title="Notable AI Models", url="https://epoch.ai/data/ai-models",
    kind="model", name="Model", date="Publication date",
    signature=("Model", "Training compute (FLOP)", "Training dataset size (gradients)"),
    row_links=("Link",), confidence="Confidence", method_column="Training compute estimation method",
    columns=(
        Column("Parameters", "parameters", "", note="Parameters notes"),
        Column("Training compute (FLOP)", "training_compute", "FLOP", method="estimated",
               note="Training compute notes"),
        Column("Training dataset size (gradients)", "training_tokens", "token", note="Dataset size notes",
               only_if=_language),
        Column("Epochs", "epochs", ""),
        Column("Training time (hours)", "training_duration", "hour", note="Training time notes"),
        Column("Hardware quantity", "gpu_count", "", conditions="Training hardware"),
        Column("Hardware utilization (MFU)", "utilization", "%", method="calculated", scale=100.0),
        Column("Training compute cost (2023 USD)", "training_cost", "USD", method="estimated",
               note="Compute cost notes", dollar_year="2023"),
        Column("Training power draw (W)", "training_power", "W", method="calculated"),
    ),
)

DATASETS = (HARDWARE, CLUSTERS, MODELS)

# Epoch's names for its estimation methods -> this knowledge base's method (the name is kept as method_detail)
METHODS = {"reported": "reported", "operation counting": "calculated", "hardware": "calculated",
           "cost": "estimated", "benchmarks": "estimated", "comparison with other models": "estimated"}


def recognise(header: list[str]) -> list[Dataset]:
    """The datasets a file's header belongs to (one, for a real download)."""
    present = set(header)
    return [d for d in DATASETS if all(h in present for h in d.signature)]
