"""Reference data: grids, boundaries, grid workers and departments (docs/onboarding.md)."""
