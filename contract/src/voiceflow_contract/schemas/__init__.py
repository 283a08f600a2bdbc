"""Pydantic schemas for the registry's JSON documents: metadata.json, validation_report.json, manifest.json."""

from voiceflow_contract.schemas.manifest import Manifest, ManifestModel, ManifestVersion, PointerMove
from voiceflow_contract.schemas.metadata import (
    Accuracy,
    Architecture,
    ContractInfo,
    DevicePerformance,
    DiarizationCalibration,
    FileInfo,
    Lineage,
    ModelMetadata,
    RealSpeechAccuracy,
    Training,
)
from voiceflow_contract.schemas.report import CheckResult, CheckStatus, ValidationReport

__all__ = [
    "Accuracy",
    "Architecture",
    "CheckResult",
    "CheckStatus",
    "ContractInfo",
    "DevicePerformance",
    "DiarizationCalibration",
    "FileInfo",
    "Lineage",
    "Manifest",
    "ManifestModel",
    "ManifestVersion",
    "ModelMetadata",
    "PointerMove",
    "RealSpeechAccuracy",
    "Training",
    "ValidationReport",
]
