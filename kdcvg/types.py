"""Shared type aliases."""

from typing import Any

EdgeType = tuple[str, str, str]  # (source node type, relation, target node type), PyG style
Row = dict[str, Any]
Vector = list[float]
