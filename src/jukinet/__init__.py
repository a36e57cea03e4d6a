"""jukinet: the Basic Resident Registry Network (住民基本台帳ネットワークシステム)."""

__version__ = "0.1.0"
