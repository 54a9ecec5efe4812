"""The site's catalogue: parametric templates (built-in and OpenSCAD) and playbooks (multi-step recipes as data)."""
