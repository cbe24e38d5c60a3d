"""GCJ-02 → WGS-84 for grid polygons drawn on Chinese web maps.

GCJ-02 (国测局坐标, "Mars coordinates") is the datum that maps published in China must use
(AMap/Gaode, Tencent, Google China): WGS-84 shifted by a public, smooth, non-linear offset of
a few hundred metres, computed on the Krasovsky 1940 ellipsoid. The forward transform
(WGS-84 → GCJ-02) has no closed-form inverse, so :func:`gcj02_to_wgs84` iterates to its fixed
point ``wgs = gcj - offset(wgs)``; the offset changes by under 1 % of a step between nearby
points, so each iteration gains two digits and a few reach far below 1e-6 degree.
Points outside China's rough bounding box are not shifted (as by every GCJ-02 implementation).
"""
from __future__ import annotations

import numpy as np
import shapely

__all__ = ["gcj02_to_wgs84", "transform_geometry_gcj02", "wgs84_to_gcj02"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323  # its first eccentricity squared
_ITERATIONS = 4


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 (degrees) at WGS-84 point(s) ``lon``, ``lat``."""
    x, y = lon - 105.0, lat - 35.0
    pi, sin = np.pi, np.sin
    dlat_m = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
              + (2.0 * sin(6.0 * pi * x) + 2.0 * sin(2.0 * pi * x) + 2.0 * sin(pi * y) + 4.0 * sin(pi * y / 3.0)
                 + 16.0 * sin(pi * y / 12.0) + 32.0 * sin(pi * y / 30.0)) * 20.0 / 3.0)
    dlon_m = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
              + (2.0 * sin(6.0 * pi * x) + 2.0 * sin(2.0 * pi * x) + 2.0 * sin(pi * x) + 4.0 * sin(pi * x / 3.0)
                 + 15.0 * sin(pi * x / 12.0) + 30.0 * sin(pi * x / 30.0)) * 20.0 / 3.0)
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    lat_m_per_deg = np.radians(_A * (1.0 - _EE) / (magic * np.sqrt(magic)))  # meridian arc
    lon_m_per_deg = np.radians(_A * np.cos(rad) / np.sqrt(magic))  # parallel arc
    return dlon_m / lon_m_per_deg, dlat_m / lat_m_per_deg


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward transform, vectorised; points outside China are returned unchanged."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    inside = _in_china(lon, lat)
    dlon, dlat = _offset(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse (fixed-point iteration, error < 1e-9 degree); outside China unchanged."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    inside = _in_china(lon, lat)
    wlon, wlat = lon, lat
    for _ in range(_ITERATIONS):
        dlon, dlat = _offset(wlon, wlat)
        wlon, wlat = np.where(inside, lon - dlon, lon), np.where(inside, lat - dlat, lat)
    return wlon, wlat


def transform_geometry_gcj02(geoms: np.ndarray) -> np.ndarray:
    """Shapely geometries in GCJ-02 → WGS-84 (2D), in one vectorised call; None stays None."""
    return shapely.transform(geoms, gcj02_to_wgs84, interleaved=False)
