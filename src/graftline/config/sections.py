"""The sections of params.yaml, one pydantic model each, and the names they accept.

The accepted names are ``Literal``s here (config is layer 0 and imports no stage): ``ESTIMATORS``, ``COLOR_MODES``;
``STRATEGIES``, ``REGULARIZERS`` in ``config.training``; ``ADAPT_METHODS`` in ``config.adapt``. The code that
implements them registers itself (``@register_estimator``, ``@register_strategy``, ...), and a unit test per
registry fails when a registered name is not accepted here or an accepted one is not registered.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import ConfigDict, Field, field_validator, model_validator

from graftline.config.adapt import AdaptParams
from graftline.config.base import Section
from graftline.config.training import REGULARIZERS, STRATEGIES, CheckParams, FinetuneParams  # noqa: F401

COLOR_MODES = ("auto", "grayscale", "rgb")
ESTIMATORS = ("logme", "leep", "nce", "h_score", "knn", "sfda", "ensemble")


class DemoParams(Section):
    """The embedded default: real handwritten digits as the target, rendered sources for the zoo."""

    seed: int = Field(0, description="seed of the rendered source domains")
    source_per_class: int = Field(1600, ge=10, le=100_000, description="rendered digit images per class")
    letters_per_class: int = Field(400, ge=10, le=100_000, description="rendered letter images per class (A-Z)")
    source_eval_fraction: float = Field(0.15, gt=0.0, lt=0.5,
                                        description="share of the rendered images held out to evaluate the zoo models")


class DataParams(Section):
    source: Literal["demo", "folder", "csv"] = "demo"
    root: str = Field("data/demo/digits",
                      description="the images: a folder <class>/<image> or a CSV/parquet manifest")
    seed: int = Field(0, description="seed of the train/val/test split")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of each class in the validation split")
    test_fraction: float = Field(0.5, gt=0.0, lt=1.0,
                                 description="share of each class in the test split (the verdict is measured on it)")
    train_per_class: int | None = Field(5, ge=1, description="keep only N labelled training images per class")
    val_per_class: int | None = Field(5, ge=1, description="keep only N validation images per class (null: all)")
    color_mode: Literal[COLOR_MODES] = Field(
        "auto", description="colour policy: grayscale -> L, rgb -> RGB, auto -> L for single-channel sources")
    max_pixels: int = Field(64_000_000, ge=1, description="decompression-bomb guard: larger images are not decoded")
    near_duplicate_distance: int = Field(
        1, ge=0, le=32, description="splits made by prepare keep images within this perceptual-hash distance together")
    workers: int = Field(0, ge=0, le=256, description="processes computing image facts (0 = one per CPU)")

    @model_validator(mode="after")
    def _fractions(self) -> "DataParams":
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + {self.test_fraction}); "
                "the rest is the training split"
            )
        return self


Severity = Literal["error", "warn", "off"]


class RuleSeverities(Section):
    """error fails the stage, warn is reported only, off skips the rule."""

    decodable: Severity = "error"
    label_in_classes: Severity = "error"
    classes_in_every_split: Severity = "error"
    min_images_per_class: Severity = "error"
    class_imbalance: Severity = "warn"
    width_in_bounds: Severity = "error"
    height_in_bounds: Severity = "error"
    allowed_modes: Severity = "error"
    unique_paths: Severity = "error"
    no_exact_duplicate_across_splits: Severity = "error"
    one_label_per_image: Severity = "error"
    no_near_duplicate_across_splits: Severity = "error"
    no_duplicate_within_split: Severity = "warn"
    row_count_in_bounds: Severity = "error"
    drift: Severity = "warn"


ALL_MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "I;16L",
             "I;16B", "I;16N", "F"]


class ValidateParams(Section):
    min_images_per_class: int = Field(1, ge=1, description="per class, in every split")
    min_width: int = Field(4, ge=1, description="smallest image width in pixels")
    min_height: int = Field(4, ge=1, description="smallest image height in pixels")
    max_width: int = Field(8192, ge=1, description="largest image width in pixels")
    max_height: int = Field(8192, ge=1, description="largest image height in pixels")
    classes: list[str] | None = Field(None, description="the expected class list (null: the classes found)")
    allowed_modes: list[str] = Field(default_factory=lambda: list(ALL_MODES), min_length=1,
                                     description="PIL modes accepted in the source files")
    max_class_imbalance: float = Field(10.0, ge=1.0, description="largest/smallest class in the training split")
    min_rows: int = Field(1, ge=1, description="fewest images in the data set")
    max_rows: int | None = Field(None, ge=1, description="most images in the data set (null: no limit)")
    near_duplicate_distance: int = Field(1, ge=0, le=32, description="perceptual-hash distance for near duplicates")
    reference_profile: str | None = Field(None, description="a committed data profile to measure drift against")
    max_psi: float = Field(0.25, gt=0.0, description="population stability index above which a feature drifted")
    severity: RuleSeverities = RuleSeverities()
    data_docs: bool = Field(False, description="also build GX Data Docs into reports/gx_data_docs (needs internet "
                                               "to render styled)")
    show_failures: int = Field(10, ge=1, le=1000, description="offending files listed per failed rule")


class ZooCandidate(Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", description="the name select lists as zoo:<id>")
    architecture: str = Field(description="timm model name")
    domain: Literal["digits", "letters", "random_labels"]
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="extra keyword arguments of timm.create_model")


class ZooParams(Section):
    seed: int = Field(0, description="seed of the zoo's pretraining")
    steps: int = Field(500, ge=1, description="optimizer steps per zoo model")
    batch_size: int = Field(128, ge=1, description="images per step")
    lr: float = Field(0.003, gt=0.0, le=10.0, description="peak learning rate (AdamW)")
    weight_decay: float = Field(0.05, ge=0.0, description="AdamW weight decay")
    image_size: int = Field(32, ge=8, le=512, description="side of the square images the zoo trains on")
    candidates: list[ZooCandidate] = Field(min_length=1,
                                           description="the models to pretrain: {id, architecture, domain}")
    workers: int = Field(0, ge=0, le=256, description="candidates trained at once, one process each, torch's threads "
                                                      "shared among them (0 = one per thread)")

    @field_validator("candidates")
    @classmethod
    def _unique(cls, v: list[ZooCandidate]) -> list[ZooCandidate]:
        ids = [c.id for c in v]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"candidate ids must be unique; repeated: {', '.join(dup)}")
        return v


class FileCandidate(Section):
    """A local weights file as a candidate: ``{file: weights/r18.pth, architecture: resnet18}``."""

    file: str = Field(description="a .safetensors, .pth, .pt or .bin file, relative to the project")
    architecture: str | None = Field(None, description="timm name; omit for a graftline saved model (JSON beside it)")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="extra keyword arguments of timm.create_model")
    input_size: list[int] | None = Field(None, min_length=3, max_length=3, description="[C, H, W]; default: timm's")
    mean: list[float] | None = Field(None, description="per-channel mean; default: timm's")
    std: list[float] | None = Field(None, description="per-channel std; default: timm's")




class SelectParams(Section):
    candidates: list[str | FileCandidate] = Field(
        default_factory=lambda: ["zoo:*"], min_length=1,
        description="'zoo:<id>' | 'zoo:*' | 'hub:<timm name>' | 'file:<path>' | {file: ..., architecture: ...}",
    )
    estimator: Literal[ESTIMATORS] = "logme"
    score_on: Literal["train", "train+val"] = Field("train+val", description="the labelled images scored")
    views: int = Field(1, ge=1, le=64, description="augmented views per image (1 = the images as they are)")
    knn_k: int = Field(3, ge=1, description="neighbours of the kNN estimator")
    h_score_shrinkage: Literal["auto"] | float | None = Field("auto", description="'auto' (Ledoit-Wolf), a float, or null")
    batch_size: int = Field(256, ge=1, description="images per feature-extraction batch")
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = Field(None, description="dask scheduler address; null = a LocalCluster on this machine")
    dask_workers: int = Field(2, ge=1, description="workers of the LocalCluster (executor: dask, no scheduler)")
    skip_unloadable: bool = Field(False, description="skip (and report) candidates that cannot be loaded")
    feature_cache: str | None = Field(".cache/features", description="feature cache directory; null = no cache")

    @field_validator("candidates")
    @classmethod
    def _scheme(cls, v: list) -> list:
        for c in v:
            if isinstance(c, str):
                scheme, sep, name = c.partition(":")
                if not sep or scheme not in ("zoo", "hub", "file") or not name:
                    raise ValueError(f"candidate {c!r}: use 'zoo:<id>', 'zoo:*', 'hub:<timm name>' (e.g. "
                                     "'hub:resnet50.a1_in1k'), 'file:<path>' or {file: <path>, architecture: <timm name>}")
        return v


class ExportParams(Section):
    opset: int = Field(18, ge=13, le=23, description="ONNX opset version")
    parity_atol: float = Field(1e-4, gt=0.0,
                               description="largest |torch - onnxruntime| difference of the logits allowed (or "
                                           "parity_float32_factor x the model's own float32 error, if larger)")
    parity_float32_factor: float = Field(
        50.0, ge=0.0, le=1000.0,
        description="the parity tolerance grows to this many times torch's own float32 error on the model (float32 "
                    "vs float64 logits on up to 32 test images), which exceeds parity_atol on deep networks; 0: off")
    min_top1_agreement: float = Field(1.0, ge=0.0, le=1.0,
                                      description="share of test images where torch and onnxruntime agree on the class")
    preprocess: Literal["float", "in_graph"] = Field(
        "float", description="float: normalised float NCHW input; in_graph: uint8 NHWC input, normalisation inside")
    int8: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: ship model.int8.onnx when it is faster here and loses at most int8_max_drop of "
                            "test accuracy; on: when it loses at most int8_max_drop, however fast it is here (a target "
                            "where INT8 is known to pay, or a run that must not depend on this machine's clock); off")
    int8_max_drop: float = Field(0.01, ge=0.0, le=1.0,
                                 description="test accuracy the INT8 model may lose and still ship")
    threads: int = Field(2, ge=1, le=256, description="onnxruntime threads for the INT8 latency comparison")


class CompareParams(Section):
    """Challenger (this run's export) vs champion (the registry's prod model) on today's test split (compare/)."""

    mode: Literal["superiority", "non_inferiority"] = Field(
        "non_inferiority", description="superiority: promote only when better by more than margin; non_inferiority: "
                                       "promote unless worse by more than margin")
    margin: float = Field(0.02, ge=0.0, le=0.5, description="accuracy margin of the decision (see mode)")
    confidence: float = Field(0.95, ge=0.5, le=0.999, description="confidence of the interval on the accuracy gain")
    bootstrap: int = Field(2000, ge=200, le=100_000, description="paired bootstrap replicates of the interval")
    stage: str = Field("prod", pattern=r"^[a-z][a-z0-9_-]*$", description="the registry stage holding the champion")


class Params(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    demo: DemoParams = DemoParams()
    data: DataParams = DataParams()
    # "validate" would shadow BaseModel.validate: the attribute is validate_, the YAML key stays "validate".
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    zoo: Optional[ZooParams] = None  # only the demo's zoo stage reads it (`graftline init` leaves it out)
    select: SelectParams = SelectParams()
    finetune: FinetuneParams = FinetuneParams()
    check: CheckParams = CheckParams()
    export: ExportParams = ExportParams()
    adapt: AdaptParams = AdaptParams()
    compare: CompareParams = CompareParams()
