"""The Azure VM sizes an AmlCompute cluster may use, with Azure's published figures.

A size's vCPUs and memory become each node's resource limits; its family names the quota that
its cores count against (``standardDSv2Family`` -> "Standard DSv2 Family").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OS_VHD_SIZE_MB = 1047552  # every size offers a 1023 GiB OS disk


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    memory_gb: float
    max_resource_volume_mb: int
    gpus: int = 0
    premium_io: bool = False
    low_priority_capable: bool = True

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "vCPUs": self.vcpus,
            "gpus": self.gpus,
            "osVhdSizeMB": OS_VHD_SIZE_MB,
            "maxResourceVolumeMB": self.max_resource_volume_mb,
            "memoryGB": self.memory_gb,
            "lowPriorityCapable": self.low_priority_capable,
            "premiumIO": self.premium_io,
        }


def _family(family: str, rows: list[tuple], **flags: Any) -> list[VmSize]:
    """Sizes of one family from rows of (name, vCPUs, memory GB, temporary disk MB[, GPUs])."""
    return [VmSize(name, family, *figures, **flags) for name, *figures in rows]


VM_SIZES: tuple[VmSize, ...] = (
    *_family("standardDFamily", [
        ("Standard_D1", 1, 3.5, 51200), ("Standard_D2", 2, 7.0, 102400), ("Standard_D3", 4, 14.0, 204800),
        ("Standard_D4", 8, 28.0, 409600), ("Standard_D11", 2, 14.0, 102400), ("Standard_D12", 4, 28.0, 204800),
        ("Standard_D13", 8, 56.0, 409600), ("Standard_D14", 16, 112.0, 819200),
    ]),
    *_family("standardDv2Family", [
        ("Standard_D1_v2", 1, 3.5, 51200), ("Standard_D2_v2", 2, 7.0, 102400), ("Standard_D3_v2", 4, 14.0, 204800),
        ("Standard_D4_v2", 8, 28.0, 409600), ("Standard_D5_v2", 16, 56.0, 819200),
        ("Standard_D11_v2", 2, 14.0, 102400), ("Standard_D12_v2", 4, 28.0, 204800),
        ("Standard_D13_v2", 8, 56.0, 409600), ("Standard_D14_v2", 16, 112.0, 819200),
    ]),
    *_family("standardDSv2Family", [
        ("Standard_DS1_v2", 1, 3.5, 7168), ("Standard_DS2_v2", 2, 7.0, 14336), ("Standard_DS3_v2", 4, 14.0, 28672),
        ("Standard_DS4_v2", 8, 28.0, 57344), ("Standard_DS5_v2", 16, 56.0, 114688),
        ("Standard_DS11_v2", 2, 14.0, 28672), ("Standard_DS12_v2", 4, 28.0, 57344),
        ("Standard_DS13_v2", 8, 56.0, 114688), ("Standard_DS14_v2", 16, 112.0, 229376),
        ("Standard_DS15_v2", 20, 140.0, 286720),
    ], premium_io=True),
    *_family("standardDSv3Family", [
        ("Standard_D2s_v3", 2, 8.0, 16384), ("Standard_D4s_v3", 4, 16.0, 32768),
        ("Standard_D8s_v3", 8, 32.0, 65536), ("Standard_D16s_v3", 16, 64.0, 131072),
    ], premium_io=True),
    *_family("standardESv3Family", [
        ("Standard_E4s_v3", 4, 32.0, 65536), ("Standard_E8s_v3", 8, 64.0, 131072),
    ], premium_io=True),
    *_family("standardFSv2Family", [
        ("Standard_F2s_v2", 2, 4.0, 16384), ("Standard_F4s_v2", 4, 8.0, 32768),
        ("Standard_F8s_v2", 8, 16.0, 65536), ("Standard_F16s_v2", 16, 32.0, 131072),
    ], premium_io=True),
    *_family("standardNCFamily", [
        ("Standard_NC6", 6, 56.0, 389120, 1), ("Standard_NC12", 12, 112.0, 696320, 2),
        ("Standard_NC24", 24, 224.0, 1474560, 4),
    ]),
    *_family("standardNCSv3Family", [("Standard_NC6s_v3", 6, 112.0, 344064, 1)], premium_io=True),
    *_family("standardNVFamily", [("Standard_NV6", 6, 56.0, 389120, 1)]),
)

_BY_NAME = {size.name.lower(): size for size in VM_SIZES}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(size.family for size in VM_SIZES))


def family_label(family: str) -> str:
    """The family as quotas and usages name it: 'standardNCSv3Family' -> 'Standard NCSv3 Family'."""
    return f"Standard {family.removeprefix('standard').removesuffix('Family')} Family"


def find_vm_size(name: str) -> VmSize | None:
    """The size named, in any letter case ('STANDARD_NC6' is 'Standard_NC6')."""
    return _BY_NAME.get(name.lower())
